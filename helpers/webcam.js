// The browser half of helpers/webcam.py (an anywidget front-end module): the camera in a
// <video>, a downscaled JPEG frame sent to the kernel every `interval_ms` (never the next
// before the answer), and each answer's face boxes and labels drawn on a <canvas> over it.
// Frames live in memory only.

const UPLOAD = "use Upload photos above instead.";

function whyNoCamera(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return "Camera permission was denied: allow the camera in the browser's site settings, or " + UPLOAD;
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return "No camera found: " + UPLOAD;
  }
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
    return "The camera is busy (another program is using it) or blocked by the system: " + UPLOAD;
  }
  return `The camera could not start (${name}: ${err && err.message}): ` + UPLOAD;
}

function percent(x) {
  return `${Math.round(100 * x)}%`;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "kit-webcam";
  const button = document.createElement("button");
  button.className = "kit-webcam-start jupyter-button";
  button.textContent = "Start camera";
  const status = document.createElement("div");
  status.className = "kit-webcam-status";
  status.textContent = "Camera off. Press Start camera: frames stay in this browser and the kernel's memory.";
  const stage = document.createElement("div");
  stage.style.cssText = "position: relative; display: none; width: 480px; max-width: 100%;";
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.style.cssText = "display: block; width: 100%;";
  const overlay = document.createElement("canvas");
  overlay.className = "kit-webcam-overlay";
  overlay.dataset.boxes = "[]";
  overlay.style.cssText = "position: absolute; left: 0; top: 0; pointer-events: none;";
  const answer = document.createElement("div");
  answer.className = "kit-webcam-answer";
  stage.append(video, overlay);
  root.append(button, status, stage, answer);
  el.appendChild(root);

  const grab = document.createElement("canvas");
  let stream = null;
  let timer = null;
  let waiting = false;
  let sentAt = 0;
  let frameNumber = 0;

  function report(camera, text) {
    status.textContent = text;
    model.set("camera", camera);
    model.save_changes();
  }

  function stop(camera = "off", text = "Camera off.") {
    clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    waiting = false;
    video.srcObject = null;
    stage.style.display = "none";
    answer.textContent = "";
    button.textContent = "Start camera";
    report(camera, text);
  }

  async function start() {
    if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) {
      stop("unavailable", `This page cannot use a camera: browsers allow it only on https or ` +
           `localhost, and this page is ${location.origin}. Ask for an https address, or ` + UPLOAD);
      return;
    }
    button.disabled = true;
    status.textContent = "Asking for the camera...";
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
      video.srcObject = stream;
      await video.play();
    } catch (err) {
      stop("failed", whyNoCamera(err));
      return;
    } finally {
      button.disabled = false;
    }
    stage.style.display = "block";
    button.textContent = "Stop camera";
    report("on", "Camera on: the kernel answers a few times a second.");
    timer = setInterval(sendFrame, model.get("interval_ms"));
  }

  function sendFrame() {
    if (!stream || video.readyState < 2 || !video.videoWidth) return;
    if (waiting) {
      if (performance.now() - sentAt > 10000) {
        status.textContent = "Waiting for the kernel (is a cell running?): answers resume when it is free.";
      }
      return;
    }
    const scale = Math.min(1, model.get("frame_width") / video.videoWidth);
    grab.width = Math.round(video.videoWidth * scale);
    grab.height = Math.round(video.videoHeight * scale);
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    waiting = true;
    sentAt = performance.now();
    const frame = ++frameNumber;
    grab.toBlob(async (blob) => {
      if (!blob) {
        waiting = false;
        return;
      }
      model.send({ type: "frame", frame }, undefined, [await blob.arrayBuffer()]);
    }, "image/jpeg", 0.85);
  }

  function draw(msg) {
    overlay.width = video.clientWidth;
    overlay.height = video.clientHeight;
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    ctx.font = "bold 16px sans-serif";
    ctx.lineWidth = 3;
    const drawn = [];
    const label = (text, x, y, colour) => {
      const width = ctx.measureText(text).width + 8;
      ctx.fillStyle = colour;
      ctx.fillRect(x, Math.max(0, y - 22), width, 22);
      ctx.fillStyle = "white";
      ctx.fillText(text, x + 4, Math.max(16, y - 6));
    };
    if (!msg.error) {
      const sx = overlay.width / msg.width;
      const sy = overlay.height / msg.height;
      for (const face of msg.faces) {
        const [x, y, w, h] = face.box;
        const colour = face.label === Object.keys(face.probabilities)[0] ? "#1f77b4" : "#d62728";
        ctx.strokeStyle = colour;
        ctx.strokeRect(x * sx, y * sy, w * sx, h * sy);
        label(`${face.label} ${percent(face.confidence)}`, x * sx, y * sy, colour);
        drawn.push([x * sx, y * sy, w * sx, h * sy].map(Math.round));
      }
      if (msg.whole_frame) label(`whole frame: ${msg.label} ${percent(msg.confidence)}`, 0, 22, "#555");
    }
    overlay.dataset.boxes = JSON.stringify(drawn);
    if (!msg.error) overlay.dataset.frame = `${msg.width}x${msg.height}`;
    answer.textContent = msg.text + (msg.kernel_ms === undefined ? "" : ` · kernel ${msg.kernel_ms} ms`);
  }

  function onMessage(msg) {
    if (!msg || msg.type !== "answer") return;
    waiting = false;
    if (stream) {
      status.textContent = "Camera on: the kernel answers a few times a second.";
      draw(msg);
    }
  }

  button.addEventListener("click", () => (stream ? stop() : start()));
  model.on("msg:custom", onMessage);
  return () => {
    model.off("msg:custom", onMessage);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    clearInterval(timer);
  };
}

export default { render };
