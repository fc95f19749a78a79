/* Concord device check for the invitation page (the door).
 *
 * Loaded with <script defer>; no inline script or style (CSP). Everything
 * starts from the "Start device check" button, because WeChat's in-app
 * browser and iOS let audio and video play only after a tap. The words come
 * from the page (translated on the server); this file only shows and hides
 * them. Results are also written as data attributes on #device-check:
 *   data-camera / data-microphone: pending | running | ok | fail
 *   (each check's box has the reason as its data-state: denied | missing |
 *   busy | insecure | unsupported | fail; the box then shows that reason's
 *   words and a link to /help/camera at the section for it)
 *   data-speaker: pending | ok | fail
 *   data-network: pending | running | ok | warn | fail
 *   data-ready: "true" when camera, microphone and network pass.
 */
(function () {
  "use strict";

  var root = document.getElementById("device-check");
  if (!root) {
    return;
  }

  var PINGS = 5;
  var PROBES = 2;
  var FETCH_TIMEOUT_MS = 10000;
  var CAMERA_TIMEOUT_MS = 10000;
  var MIC_TIMEOUT_MS = 12000;
  var MIC_THRESHOLD = 0.01; // RMS of the signal, about -40 dBFS
  var RTT_OK_MS = 400;
  var RTT_WARN_MS = 1500;
  var KBPS_OK = 1000;
  var KBPS_WARN = 300;

  var byId = function (id) { return document.getElementById(id); };
  var startButton = byId("start-check");
  var retryButton = byId("retry-check");
  var toneButton = byId("play-tone");
  var heard = byId("heard");
  var video = byId("camera-preview");
  var micBar = byId("mic-bar");
  var micMeter = byId("mic-level");
  var figures = byId("network-figures");
  var labels = byId("state-labels");

  var stream = null;
  var audio = null; // AudioContext, made inside the first tap
  var analyser = null;
  var micSource = null;
  var micTimer = null;
  var micStarted = 0;
  var cameraTimer = null;
  var generation = 0; // bumped on every (re)start, so stale callbacks do nothing

  var help = window.ConcordCameraHelp; // camerahelp.js, loaded before this file
  var isWeChat = help.isWeChat;
  var hasMedia = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  // Over plain http:// (other than localhost) browsers hide getUserMedia altogether.
  var insecure = window.isSecureContext === false;
  if (isWeChat) {
    byId("wechat-hint").hidden = false;
  }
  if (!hasMedia) {
    byId(insecure ? "insecure-page" : "no-media").hidden = false;
  }

  /* Refusals: the check's value is "fail"; the box keeps the reason to say what to do. */
  var REFUSALS = ["denied", "missing", "busy", "insecure", "unsupported"];

  function labelFor(state) {
    if (!labels || !labels.content) {
      return "";
    }
    var node = labels.content.querySelector('[data-for="' + state + '"]');
    return node ? node.textContent : "";
  }

  /* One check's state: the box shows the matching message, the section gets the summary value. */
  function setState(check, state) {
    var box = byId("check-" + check);
    box.setAttribute("data-state", state);
    var messages = box.querySelectorAll(".msg");
    for (var i = 0; i < messages.length; i += 1) {
      messages[i].hidden = messages[i].getAttribute("data-when") !== state;
    }
    var helpLink = box.querySelector(".help-link");
    if (helpLink) {
      var refused = REFUSALS.indexOf(state) >= 0;
      helpLink.hidden = !refused;
      if (refused) {
        help.point(helpLink.querySelector("a"), state);
      }
    }
    var label = box.querySelector("[data-state-label]");
    if (label) {
      label.textContent = labelFor(state);
      label.setAttribute("data-state", state);
    }
    var value = REFUSALS.indexOf(state) >= 0 ? "fail" : state;
    root.setAttribute("data-" + check, value);
    summarise();
  }

  function summarise() {
    var camera = root.getAttribute("data-camera");
    var mic = root.getAttribute("data-microphone");
    var network = root.getAttribute("data-network");
    var ready = camera === "ok" && mic === "ok" && (network === "ok" || network === "warn");
    var settled = [camera, mic, network].every(function (v) {
      return v !== "pending" && v !== "running";
    });
    root.setAttribute("data-ready", ready ? "true" : "false");
    byId("summary-ready").hidden = !ready;
    byId("summary-not-ready").hidden = ready || !settled;
    var failed = [camera, mic, network].some(function (v) { return v === "fail"; });
    retryButton.hidden = !(settled && failed);
  }

  function stopMedia() {
    if (micTimer !== null) {
      clearInterval(micTimer);
      micTimer = null;
    }
    if (cameraTimer !== null) {
      clearInterval(cameraTimer);
      cameraTimer = null;
    }
    if (micSource !== null) {
      micSource.disconnect();
      micSource = null;
    }
    if (stream !== null) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    video.srcObject = null;
  }

  function wake() {
    if (audio !== null && audio.state === "suspended" && audio.resume) {
      var resumed = audio.resume(); // older WebKit returns nothing
      if (resumed && resumed.catch) {
        resumed.catch(function () { /* tried again on the next tick or tap */ });
      }
    }
  }

  /* Must run inside a tap: iOS and WeChat keep an AudioContext made elsewhere suspended. */
  function ensureAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      return;
    }
    if (audio === null) {
      audio = new Context();
    }
    wake();
    toneButton.disabled = false;
  }

  function reasonOf(error) {
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return "denied";
    }
    if (name === "NotFoundError" || name === "DevicesNotFoundError" ||
        name === "OverconstrainedError") {
      return "missing";
    }
    // The device exists but cannot be opened: most often another app holds it.
    if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
      return "busy";
    }
    return "fail";
  }

  function getUserMedia(constraints) {
    return navigator.mediaDevices.getUserMedia(constraints);
  }

  var VIDEO = { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } };

  /* One prompt for both when possible; separately only to tell which device is missing. */
  async function acquire(run) {
    try {
      var both = await getUserMedia({ video: VIDEO, audio: true });
      return { stream: both, camera: null, microphone: null };
    } catch (error) {
      var reason = reasonOf(error);
      if (reason === "denied" || run !== generation) {
        return { stream: null, camera: reason, microphone: reason };
      }
    }
    var result = { stream: new MediaStream(), camera: null, microphone: null };
    try {
      var v = await getUserMedia({ video: VIDEO });
      v.getTracks().forEach(function (t) { result.stream.addTrack(t); });
    } catch (error) {
      result.camera = reasonOf(error);
    }
    try {
      var a = await getUserMedia({ audio: true });
      a.getTracks().forEach(function (t) { result.stream.addTrack(t); });
    } catch (error) {
      result.microphone = reasonOf(error);
    }
    return result;
  }

  function watchCamera(run) {
    var started = Date.now();
    var track = stream.getVideoTracks()[0];
    track.addEventListener("ended", function () {
      if (run === generation) {
        setState("camera", "fail");
      }
    });
    video.srcObject = stream;
    var playing = video.play();
    if (playing && playing.catch) {
      playing.catch(function () { /* autoplay refused: the frame check below decides */ });
    }
    cameraTimer = setInterval(function () {
      if (run !== generation) {
        return;
      }
      if (video.videoWidth > 0 && track.readyState === "live") {
        clearInterval(cameraTimer);
        cameraTimer = null;
        setState("camera", "ok");
      } else if (Date.now() - started > CAMERA_TIMEOUT_MS) {
        clearInterval(cameraTimer);
        cameraTimer = null;
        setState("camera", "fail");
      }
    }, 100);
  }

  function showLevel(level) {
    var shown = Math.min(1, level * 5);
    micBar.style.width = Math.round(shown * 100) + "%";
    micMeter.value = shown;
    micMeter.textContent = String(Math.round(shown * 100));
  }

  function watchMicrophone(run) {
    var track = stream.getAudioTracks()[0];
    track.addEventListener("ended", function () {
      if (run === generation) {
        setState("microphone", "fail");
      }
    });
    if (audio === null) {
      // No Web Audio: a live track is the best we can know.
      setState("microphone", track.readyState === "live" ? "ok" : "fail");
      return;
    }
    micSource = audio.createMediaStreamSource(stream);
    analyser = audio.createAnalyser();
    analyser.fftSize = 1024;
    micSource.connect(analyser);
    var samples = new Float32Array(analyser.fftSize);
    micStarted = Date.now();
    micTimer = setInterval(function () {
      if (run !== generation) {
        return;
      }
      wake();
      analyser.getFloatTimeDomainData(samples);
      var sum = 0;
      for (var i = 0; i < samples.length; i += 1) {
        sum += samples[i] * samples[i];
      }
      var rms = Math.sqrt(sum / samples.length);
      showLevel(rms);
      var state = root.getAttribute("data-microphone");
      if (rms > MIC_THRESHOLD) {
        if (state !== "ok") {
          setState("microphone", "ok");
        }
      } else if (state === "running" && Date.now() - micStarted > MIC_TIMEOUT_MS) {
        setState("microphone", "fail"); // keeps listening: sound later still turns it to ok
      }
    }, 100);
  }

  async function checkMedia(run) {
    stopMedia();
    if (!hasMedia) {
      setState("camera", insecure ? "insecure" : "unsupported");
      setState("microphone", insecure ? "insecure" : "unsupported");
      return;
    }
    setState("camera", "running");
    setState("microphone", "running");
    var result = await acquire(run);
    if (run !== generation) {
      if (result.stream) {
        result.stream.getTracks().forEach(function (t) { t.stop(); });
      }
      return;
    }
    stream = result.stream;
    if (result.camera || !stream || stream.getVideoTracks().length === 0) {
      setState("camera", result.camera || "missing");
    } else {
      watchCamera(run);
    }
    if (result.microphone || !stream || stream.getAudioTracks().length === 0) {
      setState("microphone", result.microphone || "missing");
    } else {
      watchMicrophone(run);
    }
  }

  async function timedFetch(url) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () {
      if (controller) {
        controller.abort();
      }
    }, FETCH_TIMEOUT_MS);
    try {
      var response = await fetch(url, {
        cache: "no-store",
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined,
      });
      if (!response.ok) {
        throw new Error("status " + response.status);
      }
      return response;
    } finally {
      clearTimeout(timer);
    }
  }

  function median(values) {
    var sorted = values.slice().sort(function (a, b) { return a - b; });
    var middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }

  async function checkNetwork(run) {
    setState("network", "running");
    figures.textContent = "";
    var rtts = [];
    var kbps = 0;
    try {
      for (var i = 0; i < PINGS; i += 1) {
        var t0 = performance.now();
        var pong = await timedFetch(root.getAttribute("data-ping-url"));
        await pong.json();
        rtts.push(performance.now() - t0);
      }
      for (var j = 0; j < PROBES; j += 1) {
        var t1 = performance.now();
        var response = await timedFetch(root.getAttribute("data-probe-url"));
        var body = await response.arrayBuffer();
        var elapsed = Math.max(performance.now() - t1, 1);
        kbps = Math.max(kbps, (body.byteLength * 8) / elapsed); // bits per ms = kbit/s
      }
    } catch (error) {
      if (run === generation) {
        setState("network", "fail");
      }
      return;
    }
    if (run !== generation) {
      return;
    }
    var rtt = median(rtts);
    var ms = Math.round(rtt);
    var rate = Math.round(kbps);
    root.setAttribute("data-rtt-ms", String(ms));
    root.setAttribute("data-kbps", String(rate));
    figures.textContent = ms + " ms · " + rate + " kbps";
    var state = "ok";
    if (rtt > RTT_WARN_MS || kbps < KBPS_WARN) {
      state = "fail";
    } else if (rtt > RTT_OK_MS || kbps < KBPS_OK) {
      state = "warn";
    }
    setState("network", state);
  }

  function start() {
    generation += 1;
    var run = generation;
    ensureAudio(); // synchronously inside the tap
    startButton.hidden = true;
    retryButton.hidden = true;
    checkMedia(run);
    checkNetwork(run);
  }

  function playTone() {
    ensureAudio();
    if (audio === null) {
      setState("speaker", "fail");
      return;
    }
    var now = audio.currentTime;
    var oscillator = audio.createOscillator();
    var gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = 660;
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.3, now + 0.05);
    gain.gain.setValueAtTime(0.3, now + 0.75);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.9);
    oscillator.connect(gain);
    gain.connect(audio.destination);
    oscillator.start(now);
    oscillator.stop(now + 0.95);
    heard.hidden = false;
  }

  startButton.addEventListener("click", start);
  retryButton.addEventListener("click", start);
  toneButton.addEventListener("click", playTone);
  byId("heard-yes").addEventListener("click", function () {
    heard.hidden = true;
    setState("speaker", "ok");
  });
  byId("heard-no").addEventListener("click", function () {
    heard.hidden = true;
    setState("speaker", "fail");
  });
  window.addEventListener("pagehide", stopMedia);
})();
