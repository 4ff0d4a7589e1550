// The second-factor page's passkey (served as a file: the CSP allows no inline script).
// Asks medvault for the WebAuthn request options of this sign-in, lets the browser's
// authenticator answer, and sends the answer with the form.
"use strict";
(function () {
  const form = document.getElementById("second-factor");
  const button = document.getElementById("use-passkey");
  if (!form || !button || !window.PublicKeyCredential) {
    if (button) button.hidden = true;
    return;
  }
  const fromB64 = (text) =>
    Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const toB64 = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer)))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  button.addEventListener("click", async function () {
    button.disabled = true;
    try {
      const started = await fetch("/api/v1/auth/webauthn/start", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ mfa_token: form.elements.namedItem("mfa_token").value }),
      });
      if (!started.ok) throw new Error("medvault could not start the passkey check");
      const options = (await started.json()).publicKey;
      options.challenge = fromB64(options.challenge);
      for (const credential of options.allowCredentials || []) credential.id = fromB64(credential.id);
      const credential = await navigator.credentials.get({ publicKey: options });
      const response = credential.response;
      form.elements.namedItem("passkey").value = JSON.stringify({
        id: credential.id,
        rawId: toB64(credential.rawId),
        type: credential.type,
        response: {
          authenticatorData: toB64(response.authenticatorData),
          clientDataJSON: toB64(response.clientDataJSON),
          signature: toB64(response.signature),
          userHandle: response.userHandle ? toB64(response.userHandle) : null,
        },
        extensions: {},
      });
      form.submit();
    } catch (error) {
      button.disabled = false;
      button.textContent = "Passkey failed; try again or enter a code";
    }
  });
})();
