/* Concord room page: the whole client, wired together (docs/room.md, docs/protocol.md).
 *
 * Loaded last, with <script defer>, after room/signal.js, room/media.js,
 * room/speaker.js, room/ui.js, room/host.js, room/agreement.js, room/minutes.js and
 * room/network.js. No inline
 * script or style (CSP).
 *
 * Flow: open the socket → join → lobby (self preview, a message to staff) →
 * admitted → one tap on "Join with camera and microphone" (iOS and WeChat play
 * sound and start capture only inside a tap) → publisher connection → tiles
 * appear as the server offers the subscriber connection.
 *
 * State for tests and tools, as data attributes on <main id="room">:
 *   data-state: connecting | lobby | admitted | ended | removed | declined | left | replaced | refused
 *   data-participant-id, data-host ("true"/"false"), data-media ("none"/"started"),
 *   data-connection ("connecting"/"open"/"reconnecting"), data-audio-only, data-panel;
 * each remote tile: <figure data-participant> holding <video data-participant="inv-12">;
 * #hears-you[data-ids="a,b"] (who receives your audio, from the server's snapshot).
 */
(function () {
  "use strict";

  const NS = window.ConcordRoom;
  const root = document.getElementById("room");
  if (!root || !NS || !NS.SignalClient || !NS.Publisher || !NS.ui || !NS.HostPanel || !NS.AgreementPanel || !NS.MinutesPanel || !NS.NetworkWatch) {
    return;
  }
  const ui = NS.ui;
  const model = NS.model;
  const byId = ui.byId;
  const L = ui.label;

  // A peer connection "failed" or "disconnected" this long gets an ICE restart.
  const ICE_GRACE_MS = 3000;
  // A restart that has not brought the connection back by then is tried again;
  // the publisher then starts afresh (a new RTCPeerConnection).
  const ICE_RETRY_MS = 12000;
  // A publisher that never connects (no answer, lost offer) is republished after this.
  const PUBLISH_STALL_MS = 15000;
  const LEAVE_TIMEOUT_MS = 3000;
  // When media stops arriving, or a media connection breaks, the socket is asked a
  // `ping`. A socket on an address that went away (a phone between networks) looks
  // open for minutes, and every request of the watchdog's would wait on it; but a
  // socket that is slow to answer may only be crossing a network that is down for
  // a moment, and dropping it would cost a rebuild of all media. So an unanswered
  // ping is followed by a trial socket: if that one opens, the network works and
  // the old socket is dead, and the page connects again at once.
  const SOCKET_PROBE_MS = 1000;
  const NETWORK_PROBE_MS = 1500;
  // A ping unanswered while media flows again (TCP backing off after an outage) is
  // repeated this much later before the socket is given up.
  const SOCKET_RECHECK_MS = 5000;
  // How often the subscriber's received packet count is read to notice media stopping.
  const FLOW_CHECK_MS = 500;
  const CHAT_TOAST_CHARS = 60;

  const SCREENS = {
    connecting: "screen-connecting",
    lobby: "screen-lobby",
    prejoin: "screen-prejoin",
    call: "screen-call",
    final: "screen-final",
  };
  const FINAL_STATES = {
    ended: "ended",
    removed: "removed",
    declined: "declined",
    left: "left",
    replaced: "replaced",
    credential: "refused",
    refused: "refused",
    signed_out: "signed-out",
  };

  const selfName = root.dataset.selfName || "";

  const state = {
    phase: "connecting", // connecting | lobby | prejoin | call | final
    selfId: "",
    room: null,
    iceServers: [],
    videoCodec: "VP8", // the room's, from the join's reply
    isHost: false,
    everJoined: false,
    final: false,
    leaving: false,
    reconnectAttempt: 0,
    reconnectTimer: null,
    reconnectAt: 0,
    knockText: "",
    media: { stream: null, micOn: false, camOn: false, started: false },
    publisher: null,
    subscriber: null,
    // Watchdog bookkeeping per connection: since when it is bad, when we last restarted it.
    health: {
      publisher: { badSince: 0, restartedAt: 0, startedAt: 0 },
      subscriber: { badSince: 0, restartedAt: 0, startedAt: 0 },
    },
    remote: new Map(), // pid → {tile, video, audioTrack, videoTrack}
    active: null, // the active speaker's id
    speaking: new Set(),
    pinned: null,
    hand: false,
    audioOnly: false,
    unmuteAsked: false, // a host asked us to speak (unmute_requested), not yet accepted
    connectFailures: 0, // sockets in a row that did not open
    probing: false, // a ping of the socket (or a trial socket) is out
    flow: { packets: -1, grew: false }, // the subscriber's packets at the last check
    socketDoubted: false, // a ping went unanswered while media flowed: asked again later
    chatSeen: new Set(),
    chatOldest: null, // the oldest line id shown: where the next history page ends
    chatMore: false, // older lines remain on the server
    chatLoading: false,
    unread: 0,
    wakeLock: null,
    minutes: null, // the join's word on the minutes: {read, write, signed_off}
  };

  const client = new NS.SignalClient(null);
  const speaker = new NS.SpeakerDetector((active, speaking) => {
    state.active = active;
    state.speaking = speaking;
    layout();
  });
  const hostPanel = new NS.HostPanel(send);
  const agreement = new NS.AgreementPanel(send, (type, fields) => client.request(type, fields), {
    entry: root.dataset.entry,
    token: inviteeToken(),
    lang: root.dataset.lang,
    onNews: agreementNews,
  });
  const minutes = new NS.MinutesPanel((type, fields) => client.request(type, fields), {
    lang: root.dataset.lang,
    sessionId: root.dataset.sessionId,
  });
  const network = new NS.NetworkWatch(() => [
    state.publisher && state.publisher.pc,
    state.subscriber && state.subscriber.pc,
  ]);
  const PANELS = ["chat", "people", "host", "agreement", "minutes"];

  /* ---- small helpers ------------------------------------------------------------------ */

  /* The invitee's link token, from the socket's address (the signing page is under it). */
  function inviteeToken() {
    try {
      return new URL(root.dataset.wsUrl, window.location.href).searchParams.get("token") || "";
    } catch (error) {
      return "";
    }
  }

  /* A new version of the agreement: a mark on its button unless its panel is open. */
  function agreementNews() {
    ui.show(byId("agreement-new"), root.dataset.panel !== "agreement");
  }

  function wsUrl() {
    const url = new URL(root.dataset.wsUrl, window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }

  /* A request whose failure the user should see (a toast); resolves with the data. */
  function send(type, fields, timeoutMs) {
    return client.request(type, fields, timeoutMs).catch((error) => {
      ui.toast(ui.failure(error), null, { kind: "warn" });
      throw error;
    });
  }

  /* A request nobody needs to hear about when it fails (state sync, candidates). */
  function quietly(type, fields) {
    return client.request(type, fields).catch((error) => {
      console.warn("concord: " + type + " failed", error);
      return null;
    });
  }

  function me() {
    return model.find(state.room, state.selfId);
  }

  function audioTrack() {
    const stream = state.media.stream;
    return stream ? stream.getAudioTracks()[0] || null : null;
  }

  function videoTrack() {
    const stream = state.media.stream;
    return stream ? stream.getVideoTracks()[0] || null : null;
  }

  function micLive() {
    const track = audioTrack();
    return !!track && state.media.micOn && track.readyState === "live";
  }

  function stopStream(stream) {
    if (stream) {
      stream.getTracks().forEach((track) => track.stop());
    }
  }

  function play(video) {
    const result = video.play();
    if (result && result.then) {
      result.then(
        () => {
          const blocked = Array.from(state.remote.values()).some((e) => e.video.srcObject && e.video.paused);
          if (!blocked) {
            ui.show(byId("tap-audio"), false);
          }
        },
        (error) => {
          if (error && error.name === "NotAllowedError") {
            // Autoplay with sound refused (no tap yet, in this browser's eyes).
            ui.show(byId("tap-audio"), true);
          }
        }
      );
    }
  }

  function playAllRemote() {
    state.remote.forEach((entry) => {
      if (entry.video.srcObject) {
        play(entry.video);
      }
    });
  }

  /* ---- screens and banners --------------------------------------------------------------- */

  function showScreen(name) {
    Object.keys(SCREENS).forEach((key) => ui.show(byId(SCREENS[key]), key === name));
    if (name !== "call") {
      closePanel();
    }
  }

  function setPhase(phase) {
    state.phase = phase;
    showScreen(phase);
    if (phase === "lobby") {
      root.dataset.state = "lobby";
    } else if (phase === "prejoin" || phase === "call") {
      root.dataset.state = "admitted";
    }
    ui.show(byId("btn-host"), state.isHost && phase === "call");
    if (phase === "call") {
      keepAwake();
      network.start();
    } else {
      network.stop();
    }
  }

  /* The one banner: the socket's trouble first, then the media's. */
  function renderBanner() {
    const banner = byId("banner");
    let text = "";
    if (state.final) {
      text = "";
    } else if (navigator.onLine === false && root.dataset.connection !== "open") {
      // onLine is a guess (false with only a VPN, say): trusted only while the socket is down too.
      text = L("offline");
    } else if (root.dataset.connection === "reconnecting" && state.everJoined) {
      const seconds = Math.max(0, Math.ceil((state.reconnectAt - Date.now()) / 1000));
      text = seconds > 0 ? L("reconnecting-in", { seconds: seconds }) : L("reconnecting");
    } else if (state.phase === "call" && mediaTroubled()) {
      text = L("media-restoring");
    }
    banner.textContent = text;
    banner.hidden = text === "";
  }

  function mediaTroubled() {
    const now = Date.now();
    return ["publisher", "subscriber"].some((kind) => {
      const since = state.health[kind].badSince;
      return since > 0 && now - since >= ICE_GRACE_MS;
    });
  }

  /* ---- the socket: connect, join, reconnect --------------------------------------------- */

  async function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.final) {
      return;
    }
    root.dataset.connection = state.everJoined ? "reconnecting" : "connecting";
    client.url = wsUrl();
    try {
      await client.connect();
    } catch (error) {
      // The server refuses a dead link or a lost login with a plain 403 before the
      // upgrade, which a WebSocket cannot see: ask the page itself after a few tries.
      state.connectFailures += 1;
      if (state.connectFailures >= 3 && !(await pageStillOpens())) {
        if (root.dataset.entry === "staff") {
          byId("refused-reason").textContent = L("staff-gone");
          finish("refused");
        } else {
          finish("credential");
        }
        return;
      }
      scheduleReconnect();
      return;
    }
    state.connectFailures = 0;
    root.dataset.connection = "open";
    renderBanner();
    await join();
  }

  async function join() {
    let data;
    try {
      const fields = state.knockText ? { knock_message: state.knockText } : {};
      const decodable = NS.decodableVideoCodecs();
      if (decodable !== null) {
        fields.video_codecs = decodable;
      }
      data = await client.request("join", fields);
    } catch (error) {
      if (error.fromServer) {
        refuse(error);
      } else {
        client.disconnect();
        scheduleReconnect();
      }
      return;
    }
    state.reconnectAttempt = 0;
    ui.show(byId("connect-trouble"), false);
    state.selfId = data.participant_id || state.selfId;
    root.dataset.participantId = state.selfId;
    state.iceServers = Array.isArray(data.ice_servers) ? data.ice_servers : [];
    state.videoCodec = data.video_codec === "H264" ? "H264" : "VP8";
    if (state.subscriber !== null) {
      state.subscriber.options.videoCodec = state.videoCodec; // for its next connection
    }
    state.everJoined = true;
    agreement.setEditor(data.can_draft_agreement === true);
    state.minutes = data.minutes || null;
    if (data.room) {
      applyRoom(data.room);
    }
    if (state.final) {
      return; // the snapshot said the session is over
    }
    if (data.admission === "admitted") {
      minutes.start(state.minutes, state.selfId);
      admitted(true);
    } else {
      enterLobby();
    }
    renderBanner();
  }

  function onSocketClosed(event) {
    if (state.final) {
      return;
    }
    if (NS.isFinalClose(event.code)) {
      finish(NS.FINAL_CLOSE_CODES[event.code]);
      return;
    }
    if (state.leaving) {
      finish("left");
      return;
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (state.final) {
      return;
    }
    const delay = NS.backoffDelay(state.reconnectAttempt);
    state.reconnectAttempt += 1;
    state.reconnectAt = Date.now() + delay;
    root.dataset.connection = "reconnecting";
    if (!state.everJoined && state.reconnectAttempt >= 2) {
      ui.show(byId("connect-trouble"), true);
    }
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
    renderBanner();
  }

  /* Whether this page would still open: a redirect (to the door's refusal, or to
   * the login) or a 4xx means no; a network error tells nothing, so yes. */
  async function pageStillOpens() {
    try {
      const response = await fetch(window.location.pathname, {
        method: "HEAD",
        redirect: "manual",
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.type === "opaqueredirect") {
        return false;
      }
      return !(response.status >= 400 && response.status < 500 && response.status !== 429);
    } catch (error) {
      return true;
    }
  }

  /* The server said no to join (locked, removed before, ended, declined a moment ago ...). */
  function refuse(error) {
    client.disconnect();
    byId("refused-reason").textContent = error.message || "";
    finish("refused");
  }

  /* The end, whatever its reason: stop everything and show the matching words. */
  function finish(reason) {
    if (state.final) {
      return;
    }
    state.final = true;
    network.stop();
    clearTimeout(state.reconnectTimer);
    client.onclose = null;
    client.disconnect();
    teardownMedia();
    stopStream(state.media.stream);
    state.media.stream = null;
    speaker.stop();
    agreement.stop();
    minutes.stop();
    releaseWakeLock();
    root.dataset.state = FINAL_STATES[reason] || "ended";
    root.dataset.connection = "closed";
    const blocks = byId("screen-final").querySelectorAll("[data-final]");
    for (let i = 0; i < blocks.length; i += 1) {
      blocks[i].hidden = blocks[i].getAttribute("data-final") !== reason;
    }
    ui.show(byId("final-again"), ["left", "replaced", "refused"].indexOf(reason) >= 0);
    state.phase = "final";
    ui.dismissToast();
    showScreen("final");
    renderBanner();
  }

  /* ---- lobby ---------------------------------------------------------------------------- */

  function enterLobby() {
    if (state.phase === "call" || state.phase === "prejoin") {
      // Back to the lobby (away longer than the grace period): media stops, the camera stays for the preview.
      teardownMedia();
      state.media.started = false;
      root.dataset.media = "none";
    }
    setPhase("lobby");
    renderPreview();
  }

  function renderPreview() {
    const video = byId("lobby-preview");
    const track = videoTrack();
    if (track) {
      if (video.srcObject !== state.media.stream) {
        video.srcObject = state.media.stream;
      }
      play(video);
    }
    ui.show(byId("lobby-preview-off"), !track);
  }

  async function startPreview() {
    const button = byId("preview-start");
    speaker.unlock(); // inside the tap
    button.disabled = true;
    const result = await NS.getLocalMedia(true);
    button.disabled = false;
    if (!result.stream) {
      showMediaError("preview-error", "preview-help", result);
      return;
    }
    hideMediaError("preview-error", "preview-help");
    stopStream(state.media.stream);
    state.media.stream = result.stream;
    button.hidden = true;
    renderPreview();
  }

  async function sendKnock(event) {
    event.preventDefault();
    const text = byId("knock-text").value.trim();
    if (!text) {
      return;
    }
    try {
      await send("knock_message", { text: text });
    } catch (error) {
      return;
    }
    state.knockText = text;
    ui.show(byId("knock-sent"), true);
  }

  /* ---- admitted: media --------------------------------------------------------------- */

  /* Admitted: fromJoin is true when a join response said so (first entry or a return). */
  function admitted(fromJoin) {
    loadChat(null);
    if (state.media.started) {
      if (fromJoin) {
        // Back after a dropped socket with media running: the server kept our place,
        // not our connections (it closes them when a socket drops): publish again on a
        // new connection and restate our state.
        setPhase("call");
        resumeMedia();
      }
      return;
    }
    if (state.phase !== "prejoin") {
      setPhase("prejoin");
    }
  }

  function mediaErrorText(reason) {
    if (reason === "denied" || reason === "busy" || reason === "insecure" || reason === "unsupported") {
      return L("media-" + reason);
    }
    return L("media-missing");
  }

  /* Why nothing started, in words, with the part of /help/camera for this phone and reason. */
  function showMediaError(errorId, helpId, result) {
    const reason = result.audioError || result.videoError;
    const error = byId(errorId);
    error.textContent = mediaErrorText(reason);
    error.hidden = false;
    const help = byId(helpId);
    window.ConcordCameraHelp.point(help.querySelector("a"), reason);
    help.hidden = false;
  }

  function hideMediaError(errorId, helpId) {
    byId(errorId).hidden = true;
    byId(helpId).hidden = true;
  }

  /* The tap on "Join with camera and microphone" (or microphone only). */
  async function startMedia(withVideo) {
    // Still inside the tap: unlock sound before any await uses the gesture up.
    speaker.unlock();
    playAllRemote();
    const buttons = [byId("join-media"), byId("join-audio")];
    buttons.forEach((b) => {
      b.disabled = true;
    });
    let stream = state.media.stream;
    let result = { stream: stream, audioError: "", videoError: "" };
    const needVideo = withVideo && (!stream || stream.getVideoTracks().length === 0);
    const needAudio = !stream || stream.getAudioTracks().length === 0;
    if (needVideo || needAudio) {
      result = await NS.getLocalMedia(withVideo);
      if (result.stream) {
        stopStream(stream);
        stream = result.stream;
      }
    }
    buttons.forEach((b) => {
      b.disabled = false;
    });
    if (!stream && result.audioError === "denied") {
      // Speaking is the point of a mediation: ask again rather than enter mute.
      showMediaError("prejoin-error", "prejoin-help", result);
      return;
    }
    if (stream && !withVideo) {
      stream.getVideoTracks().forEach((track) => {
        track.stop();
        stream.removeTrack(track);
      });
    }
    hideMediaError("prejoin-error", "prejoin-help");
    state.media.stream = stream || null;
    state.media.micOn = !!audioTrack();
    state.media.camOn = !!videoTrack();
    state.media.started = true;
    root.dataset.media = "started";
    if (!audioTrack()) {
      ui.toast(L("no-microphone"), null, { kind: "warn" });
    } else if (withVideo && !videoTrack()) {
      ui.toast(L("video-missing"), null, { kind: "warn" });
    }
    setPhase("call");
    renderSelf();
    renderControls();
    renderRoomParts();
    await publish();
    sendSelfState();
  }

  function makePublisher() {
    return new NS.Publisher({
      iceServers: state.iceServers,
      videoCodec: state.videoCodec,
      request: (type, fields, timeoutMs) => client.request(type, fields, timeoutMs),
      onState: (value) => onConnectionState("publisher", value),
    });
  }

  async function publish() {
    if (state.publisher === null) {
      state.publisher = makePublisher();
    }
    state.health.publisher.startedAt = Date.now();
    try {
      await state.publisher.start(state.media.stream);
    } catch (error) {
      // The watchdog publishes again when the socket is back.
      console.warn("concord: publishing failed", error);
      noticeServerFull(error);
    }
  }

  function resumeMedia() {
    if (state.publisher === null) {
      publish();
    } else {
      restartPublisher();
    }
    sendSelfState();
    if (state.audioOnly) {
      quietly("set_audio_only", { on: true });
    }
    renderSelf();
    renderControls();
  }

  function restartPublisher() {
    const health = state.health.publisher;
    health.restartedAt = Date.now();
    health.startedAt = Date.now();
    health.badSince = 0;
    state.publisher.options.iceServers = state.iceServers;
    state.publisher.options.videoCodec = state.videoCodec;
    state.publisher.restart().catch((error) => {
      console.warn("concord: publisher restart failed", error);
      noticeServerFull(error);
    });
  }

  /* No free media port on the server for now (docs/operations.md): say so, in the
   * server's words; the watchdog keeps trying. */
  function noticeServerFull(error) {
    if (error && error.code === "media_ports_exhausted") {
      ui.toast(error.message, null, { kind: "warn", key: "media-ports" });
    }
  }

  function ensureSubscriber() {
    if (state.subscriber === null) {
      state.subscriber = new NS.Subscriber({
        iceServers: state.iceServers,
        videoCodec: state.videoCodec,
        request: (type, fields, timeoutMs) => client.request(type, fields, timeoutMs),
        onState: (value) => onConnectionState("subscriber", value),
        onTracks: onTracks,
      });
      state.health.subscriber.startedAt = Date.now();
    }
    return state.subscriber;
  }

  function teardownMedia() {
    if (state.publisher !== null) {
      state.publisher.close();
      state.publisher = null;
    }
    if (state.subscriber !== null) {
      state.subscriber.close();
      state.subscriber = null;
    }
    state.remote.forEach((entry, pid) => removeTile(pid));
    ["publisher", "subscriber"].forEach((kind) => {
      state.health[kind] = { badSince: 0, restartedAt: 0, startedAt: 0 };
    });
  }

  function onConnectionState(kind, value) {
    root.dataset[kind] = value; // data-publisher / data-subscriber, for tests and support
    const health = state.health[kind];
    if (value === "failed" || value === "disconnected") {
      if (health.badSince === 0) {
        health.badSince = Date.now();
        probeSocket();
      }
    } else if (value === "connected") {
      health.badSince = 0;
      health.restartedAt = 0;
    } else if (value === "closed") {
      health.badSince = 0;
    }
    renderBanner();
  }

  /* Media stopped: does the socket still carry anything? If its ping goes unanswered
   * and a trial socket opens, the old one is dead: connect again now, and the join
   * that follows republishes. If nothing opens, the network is down: keep the socket,
   * which may well carry on when the network is back. */
  function probeSocket() {
    if (state.probing || state.final || state.leaving || !client.connected) {
      return;
    }
    state.probing = true;
    client
      .request("ping", {}, SOCKET_PROBE_MS)
      .then(
        () => {
          state.socketDoubted = false;
        },
        async (error) => {
          // "disconnected": the socket closed meanwhile, and onclose reconnects.
          if (error.code !== "timeout" || !client.connected) {
            return;
          }
          const networkWorks = await client.canOpen(NETWORK_PROBE_MS);
          if (!networkWorks || !client.connected || state.final || state.leaving) {
            return;
          }
          if (state.flow.grew && !state.socketDoubted) {
            // Media arrives again: the network came back, and the socket is likely
            // only waiting out TCP's retransmission backoff. Ask once more later.
            state.socketDoubted = true;
            setTimeout(probeSocket, SOCKET_RECHECK_MS);
            return;
          }
          console.warn("concord: the socket answers nothing but the network works: connecting again");
          client.disconnect();
          state.reconnectAttempt = 0;
          connect();
        }
      )
      .finally(() => {
        state.probing = false;
      });
  }

  /* Media that was arriving and stopped is the first sign of a lost network path, well
   * before the browser calls the connection disconnected (5-6 s in Chromium). */
  async function checkFlow() {
    const pc = state.subscriber && state.subscriber.pc;
    if (state.phase !== "call" || !pc || pc.connectionState !== "connected") {
      state.flow = { packets: -1, grew: false };
      return;
    }
    let packets = 0;
    try {
      (await pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp") {
          packets += s.packetsReceived || 0;
        }
      });
    } catch (error) {
      return;
    }
    const before = state.flow;
    const grew = before.packets >= 0 && packets > before.packets;
    state.flow = { packets: packets, grew: grew };
    if (before.grew && !grew) {
      probeSocket();
    }
  }

  /* Once a second: restart connections that stay broken. A phone that changes
   * networks (Wi-Fi to 4G) keeps its socket but loses its ICE paths. */
  function watchdog() {
    if (state.phase !== "call" || !client.connected || state.final) {
      return;
    }
    const now = Date.now();
    const pub = state.health.publisher;
    if (state.publisher !== null) {
      const value = state.publisher.state;
      const broken = pub.badSince > 0 && now - pub.badSince >= ICE_GRACE_MS;
      const stalled =
        (value === "new" || value === "connecting" || value === "closed") &&
        pub.startedAt > 0 &&
        now - pub.startedAt >= PUBLISH_STALL_MS;
      if ((broken || stalled) && now - pub.restartedAt >= ICE_RETRY_MS) {
        restartPublisher();
      }
    } else if (state.media.started) {
      publish();
    }
    const sub = state.health.subscriber;
    if (state.subscriber !== null && sub.badSince > 0 && now - sub.badSince >= ICE_GRACE_MS) {
      if (now - sub.restartedAt >= ICE_RETRY_MS) {
        sub.restartedAt = now;
        state.subscriber.restart().catch((error) => {
          console.warn("concord: restart_subscriber failed", error);
        });
      }
    }
  }

  function sendSelfState() {
    if (!state.media.started) {
      return;
    }
    quietly("set_self_state", { muted: !micLive(), video_off: !state.media.camOn });
  }

  /* ---- my microphone and camera ---------------------------------------------------- */

  function setMic(on) {
    const track = audioTrack();
    if (track) {
      track.enabled = on;
    }
    state.media.micOn = on && !!track;
    renderControls();
    renderSelf();
    renderHearsYou();
  }

  function toggleMic() {
    const track = audioTrack();
    if (!track) {
      ui.toast(L("no-microphone"), null, { kind: "warn" });
      return;
    }
    const mine = me();
    if (!state.media.micOn && mine && model.flags.hostMuted(mine)) {
      if (state.unmuteAsked || model.flags.unmuteAsked(mine)) {
        acceptUnmute();
      } else {
        ui.toast(L("host-muted-wait"));
      }
      return;
    }
    setMic(!state.media.micOn);
    sendSelfState();
  }

  async function acceptUnmute() {
    try {
      await send("accept_unmute", {});
    } catch (error) {
      return;
    }
    state.unmuteAsked = false;
    setMic(true);
    sendSelfState();
  }

  /* Camera off stops the camera itself (its light goes out): people expect that on a phone. */
  async function toggleCamera() {
    const button = byId("btn-cam");
    button.disabled = true;
    try {
      if (state.media.camOn) {
        const track = videoTrack();
        if (track) {
          track.stop();
          state.media.stream.removeTrack(track);
        }
        state.media.camOn = false;
        if (state.publisher) {
          await state.publisher.replaceTrack("video", null);
        }
      } else {
        let track;
        try {
          track = await NS.getCamera();
        } catch (error) {
          track = null;
        }
        if (!track) {
          ui.toast(L("camera-failed"), null, { kind: "warn" });
          return;
        }
        if (state.media.stream) {
          state.media.stream.addTrack(track);
        } else {
          state.media.stream = new MediaStream([track]);
        }
        state.media.camOn = true;
        if (state.publisher) {
          await state.publisher.replaceTrack("video", track);
        }
      }
    } finally {
      button.disabled = false;
      renderSelf();
      renderControls();
      sendSelfState();
    }
  }

  async function toggleHand() {
    const raised = !state.hand;
    try {
      await send("raise_hand", { raised: raised });
    } catch (error) {
      return;
    }
    state.hand = raised;
    renderControls();
  }

  async function toggleAudioOnly() {
    const on = !state.audioOnly;
    try {
      await send("set_audio_only", { on: on });
    } catch (error) {
      return;
    }
    state.audioOnly = on;
    root.dataset.audioOnly = on ? "true" : "false";
    renderControls();
    state.remote.forEach((entry, pid) => labelTile(pid));
  }

  function renderControls() {
    const mine = me();
    const hostMuted = !!mine && model.flags.hostMuted(mine);
    const mic = byId("btn-mic");
    let micText = state.media.micOn ? L("mic-mute") : L("mic-unmute");
    if (!state.media.micOn && hostMuted) {
      micText = L("mic-host-muted");
    }
    setButton(mic, micText, !state.media.micOn);
    mic.classList.toggle("host-muted", hostMuted);
    mic.classList.toggle("off", !state.media.micOn);
    const cam = byId("btn-cam");
    setButton(cam, state.media.camOn ? L("cam-stop") : L("cam-start"), !state.media.camOn);
    cam.classList.toggle("off", !state.media.camOn);
    setButton(byId("btn-hand"), state.hand ? L("hand-lower") : L("hand-raise"), state.hand);
    setButton(
      byId("btn-audio-only"),
      state.audioOnly ? L("audio-only-off") : L("audio-only-on"),
      state.audioOnly
    );
  }

  function setButton(button, text, pressed) {
    button.querySelector(".label").textContent = text;
    button.setAttribute("aria-pressed", pressed ? "true" : "false");
  }

  let selfShown = null; // the camera track the self view shows

  function renderSelf() {
    const tile = byId("self-tile");
    const video = byId("self-video");
    const track = state.media.camOn ? videoTrack() : null;
    if (track !== selfShown) {
      selfShown = track;
      // Set afresh: WebKit does not always show a track added to a stream already playing.
      video.srcObject = null;
      if (track) {
        video.srcObject = state.media.stream;
        play(video);
      }
    }
    tile.dataset.video = track ? "on" : "off";
    byId("self-avatar").textContent = initial(selfName);
    const mine = me();
    const parts = [];
    if (!micLive()) {
      parts.push(mine && model.flags.hostMuted(mine) ? L("flag-host-muted") : L("flag-muted"));
    }
    if (mine && model.flags.videoStopped(mine)) {
      parts.push(L("flag-video-stopped"));
    }
    byId("self-flags").textContent = parts.length ? " · " + parts.join(" · ") : "";
  }

  function initial(name) {
    return (name || "?").trim().charAt(0) || "?";
  }

  /* ---- remote tiles --------------------------------------------------------------------- */

  function onTracks(map) {
    Array.from(state.remote.keys()).forEach((pid) => {
      if (!map.has(pid)) {
        removeTile(pid);
      }
    });
    map.forEach((tracks, pid) => upsertTile(pid, tracks));
    layout();
  }

  function upsertTile(pid, tracks) {
    let entry = state.remote.get(pid);
    if (!entry) {
      const fragment = byId("tile-template").content.cloneNode(true);
      const tile = fragment.querySelector(".tile");
      const video = tile.querySelector("video");
      tile.dataset.participant = pid;
      video.dataset.participant = pid;
      tile.addEventListener("click", () => {
        // Tap a tile to keep it large; tap it again to follow the speaker.
        state.pinned = state.pinned === pid ? null : pid;
        layout();
      });
      byId("tiles").appendChild(tile);
      entry = { tile: tile, video: video, audioTrack: null, videoTrack: null };
      state.remote.set(pid, entry);
    }
    if (entry.audioTrack !== tracks.audio || entry.videoTrack !== tracks.video) {
      entry.audioTrack = tracks.audio;
      entry.videoTrack = tracks.video;
      const list = [tracks.audio, tracks.video].filter(Boolean);
      entry.video.srcObject = list.length ? new MediaStream(list) : null;
      if (list.length) {
        play(entry.video);
      }
      speaker.follow(pid, tracks.audio);
    }
    labelTile(pid);
  }

  function removeTile(pid) {
    const entry = state.remote.get(pid);
    if (!entry) {
      return;
    }
    entry.video.srcObject = null;
    entry.tile.remove();
    state.remote.delete(pid);
    speaker.forget(pid);
    if (state.pinned === pid) {
      state.pinned = null;
    }
  }

  function labelTile(pid) {
    const entry = state.remote.get(pid);
    if (!entry) {
      return;
    }
    const p = model.find(state.room, pid);
    const name = p ? p.name : "";
    entry.tile.querySelector(".tile-name").textContent = name;
    entry.tile.querySelector(".tile-role").textContent = p ? model.roleLabel(p) : "";
    entry.tile.querySelector(".avatar").textContent = initial(name);
    const flags = [];
    if (p && (model.flags.hostMuted(p) || model.flags.selfMuted(p))) {
      flags.push(L("flag-muted"));
    }
    if (p && model.flags.hand(p)) {
      flags.push(L("flag-hand"));
    }
    entry.tile.querySelector(".tile-flags").textContent = flags.length ? " · " + flags.join(" · ") : "";
    const videoOff =
      !entry.videoTrack ||
      state.audioOnly ||
      (p && (model.flags.selfVideoOff(p) || model.flags.videoStopped(p)));
    entry.tile.dataset.video = videoOff ? "off" : "on";
    entry.tile.dataset.hand = p && model.flags.hand(p) ? "true" : "false";
  }

  /* The big tile: the pinned one, else the active speaker, else the first in room order. */
  function layout() {
    const ids = Array.from(state.remote.keys());
    let main = null;
    if (state.pinned && state.remote.has(state.pinned)) {
      main = state.pinned;
    } else if (state.active && state.remote.has(state.active)) {
      main = state.active;
    } else {
      const order = model.admitted(state.room).map((p) => p.id);
      main = order.find((pid) => state.remote.has(pid)) || ids[0] || null;
    }
    state.remote.forEach((entry, pid) => {
      entry.tile.classList.toggle("main", pid === main);
      entry.tile.classList.toggle("pinned", pid === state.pinned);
      entry.tile.dataset.speaking = state.speaking.has(pid) ? "true" : "false";
    });
    byId("stage").dataset.count = String(ids.length);
    // "Nobody else is here" only when true: others in a private talk are not shown, but present.
    const others = model.admitted(state.room).filter((p) => p.id !== state.selfId).length;
    ui.show(byId("alone"), ids.length === 0 && others === 0);
  }

  /* ---- the room snapshot --------------------------------------------------------------- */

  function applyRoom(room) {
    const previous = state.room;
    state.room = room || {};
    if (state.room.you) {
      state.selfId = state.room.you;
      root.dataset.participantId = state.selfId;
    }
    if (state.room.ended === true) {
      finish("ended");
      return;
    }
    const mine = me();
    state.isHost = model.youAreHost(state.room);
    root.dataset.host = state.isHost ? "true" : "false";
    ui.show(byId("btn-host"), state.isHost && state.phase === "call");
    ui.show(byId("to-hosts-row"), !state.isHost);
    if (state.isHost) {
      byId("chat-to-hosts").checked = false;
    }
    ui.show(byId("lock-badge"), !!state.room.locked);
    if (mine) {
      state.hand = model.flags.hand(mine);
      if (typeof mine.audio_only === "boolean") {
        state.audioOnly = mine.audio_only;
        root.dataset.audioOnly = state.audioOnly ? "true" : "false";
      }
      network.setLinkAudioOnly(mine.link_audio_only === true);
      noticeOwnChanges(previous, mine);
    }
    if (state.isHost) {
      const counts = hostPanel.render(state.room, state.selfId);
      const badge = byId("lobby-count");
      badge.textContent = String(counts.lobbyCount);
      badge.hidden = counts.lobbyCount === 0;
      noticeKnocksAndHands(previous);
    } else if (root.dataset.panel === "host") {
      closePanel();
    }
    renderRoomParts();
    if (state.phase === "lobby" && model.yourAdmission(state.room) === "admitted") {
      admitted(false);
    }
  }

  /* Everything drawn from the snapshot, for the call screen. */
  function renderRoomParts() {
    renderHearsYou();
    renderPrivateTalk();
    renderPeople();
    renderControls();
    renderSelf();
    state.remote.forEach((entry, pid) => labelTile(pid));
    layout();
  }

  function noticeOwnChanges(previous, mine) {
    const before = model.find(previous, state.selfId);
    if (before && model.flags.videoStopped(before) && !model.flags.videoStopped(mine)) {
      ui.toast(L("video-allowed"));
    }
  }

  /* Hosts hear about new knocks and raised hands even with the panel closed. */
  function noticeKnocksAndHands(previous) {
    if (!previous) {
      return;
    }
    const waiting = new Set(model.lobby(previous).map((p) => p.id));
    const still = new Set(model.lobby(state.room).map((p) => p.id));
    waiting.forEach((pid) => {
      if (!still.has(pid)) {
        ui.dismissToast("knock-" + pid); // admitted, declined or gone: old news
      }
    });
    model.lobby(state.room).forEach((p) => {
      if (!waiting.has(p.id)) {
        ui.toast(L("knock-new", { name: p.name }), [{ label: L("open"), onClick: () => openPanel("host") }], {
          key: "knock-" + p.id,
        });
      }
    });
    const raised = new Set(
      model
        .admitted(previous)
        .filter((p) => model.flags.hand(p))
        .map((p) => p.id)
    );
    model.admitted(state.room).forEach((p) => {
      if (p.id !== state.selfId && model.flags.hand(p) && !raised.has(p.id)) {
        ui.toast(L("hand-raised-by", { name: p.name }), null, { key: "hand-" + p.id });
      }
    });
  }

  function renderHearsYou() {
    const node = byId("hears-you");
    const room = state.room || {};
    const ids = (Array.isArray(room.hears_you) ? room.hears_you : []).filter((id) => id !== state.selfId);
    node.dataset.ids = ids.join(",");
    const mine = me();
    let text;
    let nobody = true;
    if (mine && model.flags.hostMuted(mine)) {
      text = L("hears-host-muted");
    } else if (state.media.started && !micLive()) {
      text = L("hears-muted");
    } else if (ids.length === 0) {
      text = L("hears-nobody");
    } else {
      text = L("hears-you", { names: ui.joinNames(ids.map((id) => model.nameOf(room, id))) });
      nobody = false;
    }
    node.textContent = text;
    node.classList.toggle("nobody", nobody);
  }

  function renderPrivateTalk() {
    const room = state.room;
    const mine = model.caucusOf(room, state.selfId);
    const inside = byId("in-caucus");
    const outside = byId("private-talk");
    if (mine) {
      inside.textContent = mine.name ? L("in-caucus-named", { name: mine.name }) : L("in-caucus");
      inside.hidden = false;
      outside.hidden = true;
      root.dataset.caucus = mine.id;
      return;
    }
    root.dataset.caucus = "";
    inside.hidden = true;
    const talk = model.privateTalk(room);
    if (!talk || talk.names.length === 0) {
      outside.hidden = true;
      return;
    }
    const names = ui.joinNames(talk.names);
    outside.textContent = talk.hosts.length
      ? L("private-talk-by", { host: ui.joinNames(talk.hosts), names: names })
      : L("private-talk", { names: names });
    outside.hidden = false;
  }

  function renderPeople() {
    const list = byId("people-list");
    ui.clear(list);
    model.admitted(state.room).forEach((p) => {
      const you = p.id === state.selfId;
      const line = NS.describe(state.room, p);
      list.appendChild(
        ui.el("li", { dataset: { participant: p.id }, className: you ? "you" : "" }, [
          ui.el("div", { className: "who" }, [
            ui.el("strong", { text: p.name }),
            you ? " " + L("you-suffix") : "",
            " ",
            ui.el("span", { className: "role", text: model.roleLabel(p) }),
          ]),
          line ? ui.el("p", { className: "flags", text: line }) : null,
        ])
      );
    });
  }

  /* ---- chat -------------------------------------------------------------------------------- */

  /* A page of history (chat_history): the latest lines (`before` null, after every join),
     or those before the oldest shown, when the reader scrolls to the top. Room updates
     carry no chat: lines come one by one (chat_posted) and pages on request. */
  async function loadChat(before) {
    if (state.chatLoading) {
      return;
    }
    state.chatLoading = true;
    try {
      const data = await send("chat_history", before === null ? { limit: 50 } : { before: before, limit: 50 });
      const lines = Array.isArray(data.lines) ? data.lines : [];
      if (lines.length && (state.chatOldest === null || lines[0].id < state.chatOldest)) {
        state.chatOldest = lines[0].id;
        state.chatMore = data.more === true;
      } else if (state.chatOldest === null) {
        state.chatMore = false;
      }
      mergeChat(lines, false, before !== null);
    } catch (error) {
      // Not fatal: the next join asks again; live lines keep arriving meanwhile.
    } finally {
      state.chatLoading = false;
    }
  }

  /* Add lines not yet shown, in id order. `live` lines (chat_posted) may raise a toast;
     `older` lines (a history page) keep the reader where they were. */
  function mergeChat(lines, live, older) {
    const list = byId("chat-list");
    const fromBottom = list.scrollHeight - list.scrollTop;
    lines.forEach((line) => {
      if (!line || line.id === undefined || state.chatSeen.has(line.id)) {
        return;
      }
      state.chatSeen.add(line.id);
      const mine = line.sender_id === state.selfId;
      const item = ui.el(
        "li",
        {
          className: "chat-line" + (mine ? " mine" : "") + (line.private_to_hosts ? " private" : ""),
          dataset: { id: String(line.id), sender: line.sender_id || "" },
        },
        [
          ui.el("div", { className: "meta" }, [
            ui.el("strong", { text: mine ? L("you") : line.sender_name || "" }),
            " ",
            ui.el("time", { text: model.chatTime(line.at, root.dataset.lang) }),
            line.private_to_hosts ? ui.el("span", { className: "badge", text: L("chat-private") }) : null,
          ]),
          ui.el("p", { className: "text", text: line.text || "" }),
        ]
      );
      const after = Array.from(list.children).find((li) => Number(li.dataset.id) > Number(line.id));
      list.insertBefore(item, after || null);
      if (live && !mine && root.dataset.panel !== "chat") {
        state.unread += 1;
        let text = line.text || "";
        if (text.length > CHAT_TOAST_CHARS) {
          text = text.slice(0, CHAT_TOAST_CHARS) + "…";
        }
        ui.toast(L("chat-new", { name: line.sender_name || "", text: text }), [
          { label: L("open"), onClick: () => openPanel("chat") },
        ], { key: "chat" });
      }
    });
    const unread = byId("chat-unread");
    unread.textContent = String(state.unread);
    unread.hidden = state.unread === 0;
    ui.show(byId("chat-empty"), list.children.length === 0);
    if (older) {
      list.scrollTop = list.scrollHeight - fromBottom;
    } else if (root.dataset.panel === "chat") {
      list.scrollTop = list.scrollHeight;
    }
  }

  async function sendChat(event) {
    event.preventDefault();
    const area = byId("chat-text");
    const text = area.value.trim();
    if (!text) {
      return;
    }
    const toHosts = !state.isHost && byId("chat-to-hosts").checked;
    const button = event.target.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const data = await send("send_chat", { text: text, to_hosts: toHosts });
      area.value = "";
      if (data && data.message) {
        mergeChat([data.message], false);
      }
    } catch (error) {
      /* shown by send() */
    }
    button.disabled = false;
  }

  /* ---- panels ------------------------------------------------------------------------------ */

  function openPanel(name) {
    if (name === "host" && !state.isHost) {
      return;
    }
    PANELS.forEach((key) => ui.show(byId("panel-" + key), key === name));
    root.dataset.panel = name;
    if (name === "agreement") {
      ui.show(byId("agreement-new"), false);
    }
    if (name === "chat") {
      state.unread = 0;
      mergeChat([], false);
      byId("chat-list").scrollTop = byId("chat-list").scrollHeight;
    }
  }

  function closePanel() {
    PANELS.forEach((key) => ui.show(byId("panel-" + key), false));
    root.dataset.panel = "";
  }

  function togglePanel(name) {
    if (root.dataset.panel === name) {
      closePanel();
    } else {
      openPanel(name);
    }
  }

  /* ---- leaving ------------------------------------------------------------------------------- */

  async function leave() {
    state.leaving = true;
    try {
      await client.request("leave", {}, LEAVE_TIMEOUT_MS);
    } catch (error) {
      /* leaving anyway */
    }
    finish("left"); // the socket's close (left) may come before or after this
  }

  /* ---- keeping the screen on ------------------------------------------------------------------ */

  async function keepAwake() {
    if (!navigator.wakeLock || state.wakeLock !== null || document.visibilityState !== "visible") {
      return;
    }
    try {
      state.wakeLock = await navigator.wakeLock.request("screen");
      state.wakeLock.addEventListener("release", () => {
        state.wakeLock = null;
      });
    } catch (error) {
      state.wakeLock = null; // not allowed here (WeChat, low battery): the screen may dim
    }
  }

  function releaseWakeLock() {
    if (state.wakeLock !== null) {
      state.wakeLock.release().catch(() => undefined);
      state.wakeLock = null;
    }
  }

  /* ---- notifications ------------------------------------------------------------------------- */

  client.on("room_updated", (message) => applyRoom(message.room));
  client.on("subscriber_offered", (message) => {
    ensureSubscriber()
      .handleOffer(message.sdp, message.sources, message.connection)
      .catch((error) => console.warn("concord: subscriber offer failed", error));
  });
  client.on("ice_candidate_sent", (message) => {
    if (message.target === "publisher") {
      if (state.publisher !== null) {
        state.publisher.addRemoteCandidate(message);
      }
    } else {
      ensureSubscriber().addRemoteCandidate(message);
    }
  });
  client.on("chat_posted", (message) => mergeChat([message.message], true));
  client.on("you_were_muted", (message) => {
    state.unmuteAsked = false;
    setMic(false);
    sendSelfState();
    ui.toast(L("muted-by", { name: message.by || "" }), null, { key: "muted" });
  });
  client.on("unmute_requested", (message) => {
    state.unmuteAsked = true;
    ui.toast(
      L("unmute-asked", { name: message.by || "" }),
      [{ label: L("unmute-action"), primary: true, onClick: acceptUnmute }],
      { sticky: true, key: "unmute" }
    );
  });
  client.on("your_video_was_stopped", (message) => {
    ui.toast(L("video-stopped-by", { name: message.by || "" }), null, { key: "video" });
  });
  client.on("you_were_admitted", () => {
    if (state.phase === "lobby") {
      ui.toast(L("admitted-now"));
    }
    minutes.start(state.minutes, state.selfId);
    admitted(false);
  });
  client.on("agreement_updated", (message) => agreement.update(message));
  client.on("signature_requested", (message) => agreement.askToSign(message));
  client.on("minutes_updated", (message) => minutes.update(message));
  client.on("you_were_declined", () => finish("declined"));
  client.on("you_were_removed", () => finish("removed"));
  client.on("session_ended", () => finish("ended"));
  client.onclose = onSocketClosed;

  /* ---- wiring ------------------------------------------------------------------------------- */

  byId("preview-start").addEventListener("click", startPreview);
  byId("knock-form").addEventListener("submit", sendKnock);
  byId("join-media").addEventListener("click", () => startMedia(true));
  byId("join-audio").addEventListener("click", () => startMedia(false));
  byId("tap-audio").addEventListener("click", () => {
    speaker.unlock();
    ui.show(byId("tap-audio"), false);
    playAllRemote();
  });
  byId("btn-mic").addEventListener("click", toggleMic);
  byId("btn-cam").addEventListener("click", toggleCamera);
  byId("btn-hand").addEventListener("click", toggleHand);
  byId("btn-audio-only").addEventListener("click", toggleAudioOnly);
  byId("btn-chat").addEventListener("click", () => togglePanel("chat"));
  byId("btn-people").addEventListener("click", () => togglePanel("people"));
  byId("btn-host").addEventListener("click", () => togglePanel("host"));
  byId("btn-agreement").addEventListener("click", () => togglePanel("agreement"));
  byId("btn-minutes").addEventListener("click", () => togglePanel("minutes"));
  byId("btn-leave").addEventListener("click", () => ui.show(byId("leave-confirm"), true));
  byId("leave-no").addEventListener("click", () => ui.show(byId("leave-confirm"), false));
  byId("leave-yes").addEventListener("click", leave);
  byId("chat-form").addEventListener("submit", sendChat);
  byId("chat-list").addEventListener("scroll", () => {
    if (byId("chat-list").scrollTop === 0 && state.chatMore && state.chatOldest !== null) {
      loadChat(state.chatOldest);
    }
  });
  byId("chat-text").addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter breaks the line. Only a touch-only device (a phone: a coarse
    // pointer and no fine one) keeps Enter for new lines, having no physical keyboard; a
    // touchscreen laptop, or a computer that reports no pointer at all, sends. Enter that
    // confirms an input method's composition (pinyin) is not a send: keyCode 229 covers
    // browsers that fire it after compositionend.
    const touchOnly =
      window.matchMedia &&
      window.matchMedia("(pointer: coarse)").matches &&
      !window.matchMedia("(any-pointer: fine)").matches;
    const composing = event.isComposing || event.keyCode === 229;
    if (event.key === "Enter" && !event.shiftKey && !composing && !touchOnly) {
      event.preventDefault();
      sendChat({ preventDefault: () => undefined, target: byId("chat-form") });
    }
  });
  const closers = document.querySelectorAll("[data-close-panel]");
  for (let i = 0; i < closers.length; i += 1) {
    closers[i].addEventListener("click", closePanel);
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      closePanel();
    }
  });
  byId("final-again").addEventListener("click", () => window.location.reload());

  window.addEventListener("online", () => {
    renderBanner();
    if (state.reconnectTimer !== null) {
      state.reconnectAttempt = 0;
      connect();
    }
    // The network is back: media connections that broke meanwhile need not wait
    // for their next scheduled retry (a phone moving from Wi-Fi to 4G).
    const now = Date.now();
    ["publisher", "subscriber"].forEach((kind) => {
      const health = state.health[kind];
      const connection = state[kind];
      if (connection !== null && connection.state !== "connected") {
        health.restartedAt = 0;
        health.badSince = now - ICE_GRACE_MS;
        health.startedAt = now - PUBLISH_STALL_MS;
      }
    });
    watchdog();
  });
  window.addEventListener("offline", renderBanner);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      // iOS pauses media in the background and does not resume it by itself.
      playAllRemote();
      if (byId("self-video").srcObject) {
        play(byId("self-video"));
      }
      if (state.phase === "call") {
        keepAwake();
      }
    }
  });

  setInterval(() => {
    watchdog();
    renderBanner();
  }, 1000);
  setInterval(checkFlow, FLOW_CHECK_MS);

  root.dataset.media = "none";
  root.dataset.connection = "connecting";
  byId("self-avatar").textContent = initial(selfName);
  renderControls();
  connect();
})();
