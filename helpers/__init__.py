"""Plumbing for the happy-vs-sad CNN course kit: one module per stage of the course.

The notebooks in `notebooks/` tell the story; these modules hide the boilerplate.

The lesson's stages, in the order a picture meets them:

- collect (01): `collect` (a folder of your photos), `download` (a list of URLs), `search`
  (web search), all storing through `store`, with `deadline` bounding each download;
  `synthetic` draws the default faces, `face_drawing` paints them.
- clean (02): `images` (the one decoder), `faces` (the one face step), `clean` with
  `clean_faces` (the face step chosen and applied), `duplicates` (exact and near copies),
  `copies` (how a copy is written) and `names` (copies' file names), `review`.
- split and feed (03): `split`, `pipeline` (tf.data and augmentation).
- build and train (04, 05): `model` (the recipe), `bundle` (a model folder and its card).
- evaluate (06): `evaluate`, `plots`.
- predict and export (07): `predict`, `litert` (TFLite without TensorFlow), `export`,
  `upload`, `webcam`.
- compare and explain (08): `explain`.
- your own face (09): `own_face`; the model finds label mistakes (10): `relabel`.

The course machinery around them: `workspace` (the work folder and the parameters), `checks`
and `checks_after_training` (the exercises' self-checks), `course` (`python -m helpers.course`:
run, check, student, classroom, catch-up, colab), `runner` (the notebooks executed by
papermill), `progress` (what a headless run is doing), `preflight`, `student`, `classroom`,
`colab`, `site` (the executed course as a website), `project` (pyproject.toml, read once).
"""
