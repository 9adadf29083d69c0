// Go live from the browser (phones included): camera and microphone through getUserMedia, a
// muted preview, MediaRecorder chunks every 250 ms sent as binary frames over a WebSocket to the
// app, which turns them into HLS (media/ingest_ws.py). Strings come from data-t-* attributes.
const MIME_TYPES = [
  "video/webm;codecs=vp8,opus",
  "video/webm;codecs=h264,opus",
  "video/webm",
  "video/mp4;codecs=avc1,mp4a",
  "video/mp4",
];
const TIMESLICE_MS = 250;
const SLOW_BUFFER_BYTES = 4 * 1024 * 1024;

const panel = document.getElementById("golive");
if (panel) setUp(panel);

function pickMime() {
  if (typeof MediaRecorder === "undefined") return null;
  if (typeof MediaRecorder.isTypeSupported !== "function") return "";
  return MIME_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) ?? null;
}

function constraints(facingMode) {
  return {
    video: { facingMode, width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: true,
  };
}

function setUp(panel) {
  const t = panel.dataset;
  const preview = panel.querySelector("video");
  const status = panel.querySelector("[data-golive-status]");
  const goButton = panel.querySelector("[data-golive-start]");
  const stopButton = panel.querySelector("[data-golive-stop]");
  const switchButton = panel.querySelector("[data-golive-switch]");
  const cameraButton = panel.querySelector("[data-golive-camera]");

  let stream = null;
  let recorder = null;
  let socket = null;
  let facing = "user";
  let warnedSlow = false;

  const show = (text, kind = "info") => {
    status.textContent = text;
    status.dataset.kind = kind;
    panel.dataset.phase = kind;
  };
  const buttons = ({ live }) => {
    goButton.hidden = live;
    cameraButton.hidden = live;
    stopButton.hidden = !live;
    switchButton.disabled = live || !stream;
  };

  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    show(t.tInsecure, "error");
    goButton.disabled = true;
    cameraButton.disabled = true;
    switchButton.hidden = true;
    return;
  }

  async function openCamera() {
    const next = await navigator.mediaDevices.getUserMedia(constraints(facing));
    stopTracks();
    stream = next;
    preview.srcObject = stream;
    panel.dataset.facing = facing; // the front camera's preview is mirrored, as in a mirror
    preview.muted = true;
    await preview.play().catch(() => {});
    switchButton.disabled = false;
  }

  async function ensureCamera() {
    if (stream) return true;
    try {
      await openCamera();
      show(t.tPreview);
      return true;
    } catch (error) {
      const refused = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
      show(refused ? t.tDenied : t.tNoCamera, "error");
      return false;
    }
  }

  function stopTracks() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
  }

  function stopRecording() {
    if (recorder && recorder.state !== "inactive") recorder.stop();
    recorder = null;
  }

  function closeSocket() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ stop: true }));
      socket.close(1000);
    }
    socket = null;
  }

  cameraButton.addEventListener("click", ensureCamera);

  switchButton.addEventListener("click", async () => {
    if (recorder) return;
    facing = facing === "user" ? "environment" : "user";
    try {
      await openCamera();
    } catch {
      facing = facing === "user" ? "environment" : "user";
      show(t.tNoSecondCamera, "error");
    }
  });

  goButton.addEventListener("click", async () => {
    if (!(await ensureCamera())) return;
    const mime = pickMime();
    if (mime === null) {
      show(t.tNoRecorder, "error");
      return;
    }
    goButton.disabled = true;
    show(t.tConnecting);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/ingest/" + t.sessionId);
    ws.binaryType = "arraybuffer";
    socket = ws;
    warnedSlow = false;

    ws.addEventListener("open", () => {
      const rec = mime ? new MediaRecorder(stream, { mimeType: mime }) : new MediaRecorder(stream);
      ws.send(JSON.stringify({ mime: rec.mimeType || mime || "video/webm" }));
      rec.addEventListener("dataavailable", (event) => {
        if (!event.data || event.data.size === 0 || ws.readyState !== WebSocket.OPEN) return;
        ws.send(event.data);
        if (ws.bufferedAmount > SLOW_BUFFER_BYTES && !warnedSlow) {
          warnedSlow = true;
          show(t.tSlow, "warning");
        }
      });
      rec.start(TIMESLICE_MS);
      recorder = rec;
      goButton.disabled = false;
      buttons({ live: true });
    });

    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.status === "ready") show(t.tReady);
      else if (msg.status === "live") {
        show(t.tLive, "live");
        const badge = document.querySelector("[data-console-state]");
        if (badge) badge.textContent = t.tLiveBadge;
        // The console shows what only a live show has (pin buttons, End); console.js reloads it.
        document.dispatchEvent(new CustomEvent("fieldcast:live"));
      } else if (msg.status === "error") show(`${t.tError} ${msg.detail || ""}`.trim(), "error");
    });

    ws.addEventListener("close", (event) => {
      if (socket !== ws) return; // stopped on purpose
      stopRecording();
      socket = null;
      goButton.disabled = false;
      buttons({ live: false });
      if (status.dataset.kind !== "error") show(event.code === 1000 ? t.tStopped : t.tClosed, "error");
    });
  });

  stopButton.addEventListener("click", () => {
    const ws = socket;
    socket = null;
    if (recorder && recorder.state !== "inactive") {
      // The last chunk arrives in the final dataavailable; close once it has been sent.
      recorder.addEventListener("stop", () => setTimeout(() => {
        if (ws && ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ stop: true }));
          ws.close(1000);
        }
      }, 50), { once: true });
      recorder.stop();
      recorder = null;
    } else if (ws) {
      socket = ws;
      closeSocket();
    }
    stopTracks();
    preview.srcObject = null;
    buttons({ live: false });
    switchButton.disabled = true;
    show(t.tStopped);
  });

  window.addEventListener("pagehide", () => {
    stopRecording();
    closeSocket();
    stopTracks();
  });
  panel.dataset.ready = "1"; // the buttons answer from now on (tests wait for it before a click)
}
