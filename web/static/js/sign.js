// The signing page: "I have read and agree", a drawn signature, and the answer posted
// as JSON with the hash of the text shown, so the server can refuse a superseded text.
(function () {
  "use strict";
  const page = document.getElementById("sign-page");
  const canvas = document.getElementById("pad");
  if (!page || !canvas || typeof SignaturePad === "undefined") return;

  const pad = new SignaturePad(canvas, { minWidth: 1.2, maxWidth: 3.2, penColor: "#111" });
  const errorBox = document.getElementById("sign-error");
  const textHash = document.getElementById("text-sha").textContent.trim();

  // The canvas keeps device pixels in step with its CSS size, or strokes land offset.
  function resize() {
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const data = pad.isEmpty() ? null : pad.toData();
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    pad.clear();
    if (data) pad.fromData(data);
  }
  window.addEventListener("resize", resize);
  resize();

  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function busy(on) {
    for (const id of ["sign-submit", "refuse-submit", "pad-clear"]) {
      const button = document.getElementById(id);
      if (button) button.disabled = on;
    }
  }

  async function send(body) {
    errorBox.hidden = true;
    busy(true);
    try {
      const response = await fetch(page.dataset.postUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": page.dataset.csrf },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => null);
      if (!response.ok) {
        fail((answer && answer.error && answer.error.message) || page.dataset.msgFailed);
        busy(false);
        return;
      }
      if (page.dataset.embed && window.parent !== window) {
        window.parent.postMessage({ type: "concord.signed", outcome: body.action }, location.origin);
      }
      window.location.reload();
    } catch (err) {
      fail(page.dataset.msgFailed);
      busy(false);
    }
  }

  document.getElementById("pad-clear").addEventListener("click", () => pad.clear());
  document.getElementById("sign-submit").addEventListener("click", () => {
    if (!document.getElementById("agree").checked) return fail(page.dataset.msgAgree);
    if (pad.isEmpty()) return fail(page.dataset.msgEmpty);
    send({ action: "sign", text_sha256: textHash, agree: true, image_data_url: pad.toDataURL("image/png") });
  });
  document.getElementById("refuse-submit").addEventListener("click", () => {
    const reason = document.getElementById("refuse-reason").value.trim();
    send({ action: "refuse", text_sha256: textHash, reason: reason });
  });
})();
