// Security keys (WebAuthn) in the portal, without inline script (the CSP allows 'self' only).
//
// A button with data-webauthn="get" (sign-in second step, sudo prompt) or "create" (adding a
// key) asks its data-options-url for the options (POST, CSRF token in X-CSRF-Token), lets the
// browser talk to the key, writes the answer as JSON into the form's "credential" field (the
// shape py_webauthn parses: binary fields base64url) and submits the form. The server checks
// everything; this file only moves bytes.
(function () {
  "use strict";

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function publicKeyOptions(options, kind) {
    options.challenge = fromB64url(options.challenge);
    if (kind === "create") {
      options.user.id = fromB64url(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    } else {
      (options.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    }
    return options;
  }

  function answer(credential, kind) {
    var r = credential.response;
    var response = kind === "create" ? {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : []
    } : {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
      userHandle: toB64url(r.userHandle)
    };
    return JSON.stringify({
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ?
        credential.getClientExtensionResults() : {}
    });
  }

  async function run(button) {
    var form = button.form;
    var kind = button.dataset.webauthn;
    var status = form.querySelector("[data-webauthn-status]");
    if (status) { status.textContent = ""; }
    if (form.elements.password && !form.elements.password.reportValidity()) { return; }
    try {
      var reply = await fetch(button.dataset.optionsUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": button.dataset.csrf }
      });
      if (!reply.ok) { throw new Error("options " + reply.status); }
      var options = publicKeyOptions(await reply.json(), kind);
      var credential = kind === "create" ?
        await navigator.credentials.create({ publicKey: options }) :
        await navigator.credentials.get({ publicKey: options });
      form.elements.credential.value = answer(credential, kind);
      if (form.elements.method) { form.elements.method.value = "webauthn"; }
      form.submit();
    } catch (error) {
      if (status) { status.textContent = button.dataset.failedText || ""; }
    }
  }

  document.querySelectorAll("button[data-webauthn]").forEach(function (button) {
    if (!window.PublicKeyCredential) { button.disabled = true; return; }
    button.addEventListener("click", function (event) {
      event.preventDefault();
      run(button);
    });
  });
}());
