// This browser as a signer: an Ed25519 key made by WebCrypto, never extractable, kept in
// IndexedDB for this origin only. Shared by the login, approval and enrollment pages.
var device = (function () {
  "use strict";
  var DB = "qrgate", STORE = "keys", SLOT = "device";

  function transact(mode, work) {
    return new Promise(function (resolve, reject) {
      var open = indexedDB.open(DB, 1);
      open.onupgradeneeded = function () { open.result.createObjectStore(STORE); };
      open.onerror = function () { reject(open.error); };
      open.onsuccess = function () {
        var db = open.result;
        var tx = db.transaction(STORE, mode);
        var req = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(req.result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      };
    });
  }

  // Whether this browser can hold a key: a secure context, IndexedDB, and Ed25519 in WebCrypto.
  async function supported() {
    if (!window.isSecureContext || !window.crypto || !crypto.subtle || !window.indexedDB) { return false; }
    try {
      await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      return true;
    } catch (e) {
      return false;
    }
  }

  // The stored record {privateKey, publicKey (hex), user, app}, or undefined.
  function load() {
    if (!window.indexedDB) { return Promise.resolve(undefined); }
    return transact("readonly", function (s) { return s.get(SLOT); }).catch(function () { return undefined; });
  }

  function save(record) { return transact("readwrite", function (s) { return s.put(record, SLOT); }); }

  function hex(buf) {
    return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function base64url(buf) {
    var text = "";
    new Uint8Array(buf).forEach(function (b) { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // A new key pair; the private half cannot be exported, by this script or any other.
  async function create() {
    var pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    var raw = await crypto.subtle.exportKey("raw", pair.publicKey);
    return { privateKey: pair.privateKey, publicKey: hex(raw) };
  }

  async function sign(privateKey, text) {
    var sig = await crypto.subtle.sign({ name: "Ed25519" }, privateKey, new TextEncoder().encode(text));
    return base64url(sig);
  }

  async function post(url, body) {
    var init = { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var r = await fetch(url, init);
    var json = {};
    try { json = await r.json(); } catch (e) { json = {}; }
    return { ok: r.ok, status: r.status, body: json };
  }

  // The page's texts for this script, in the page's language (templates/device-texts.html).
  function said(name) { return document.getElementById("device-texts").dataset[name]; }

  function refusal(res) {
    if (res.body && res.body.error === "unknown_key") {
      return new Error(said("unenrolled"));
    }
    return new Error((res.body && res.body.message) || said("refused").replace("%STATUS%", String(res.status)));
  }

  // The native challenge of attempt `base` (…/auth/session/{id}), fetched as a phone does;
  // refused unless it is for this origin and this attempt, and confirms exactly `action`
  // (the action the page shows; none for a sign-in).
  async function challenge(base, id, action) {
    var res = await post(base + "/scan");
    if (!res.ok) { throw refusal(res); }
    if (res.body.origin !== location.origin || res.body.attempt !== id || typeof res.body.message !== "string") {
      throw new Error(said("otherSite"));
    }
    if ((res.body.action || "") !== (action || "")) {
      throw new Error(said("otherAction"));
    }
    return res.body;
  }

  // Signs the challenge's message exactly as received and approves with it.
  async function approve(base, record, message) {
    var res = await post(base + "/approve", { public_key: record.publicKey, signature: await sign(record.privateKey, message) });
    if (!res.ok) { throw refusal(res); }
    return res.body;
  }

  async function decline(base) {
    var res = await post(base + "/reject");
    if (!res.ok) { throw refusal(res); }
  }

  return { supported: supported, load: load, save: save, create: create, sign: sign, post: post,
           challenge: challenge, approve: approve, decline: decline };
})();
