// The sign-in page's proof-of-work challenge (served as a file: the CSP allows no inline
// script). Find a nonce such that SHA-256(prefix ‖ nonce) starts with `difficulty` zero
// bits, put it in the form, then send the form.
"use strict";
(function () {
  const form = document.getElementById("sign-in");
  const prefix = form && form.elements.namedItem("challenge_prefix");
  if (!prefix) return;
  const difficulty = Number(form.elements.namedItem("challenge_difficulty").value);
  const solution = form.elements.namedItem("challenge_solution");
  function zeroBits(bytes) {
    let bits = 0;
    for (const b of bytes) {
      if (b === 0) { bits += 8; continue; }
      bits += Math.clz32(b) - 24;
      break;
    }
    return bits;
  }
  async function solve() {
    const encoder = new TextEncoder();
    for (let n = 0; ; n++) {
      const digest = await crypto.subtle.digest("SHA-256", encoder.encode(prefix.value + n));
      if (zeroBits(new Uint8Array(digest)) >= difficulty) return String(n);
    }
  }
  form.addEventListener("submit", async function (event) {
    if (solution.value) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Checking…";
    solution.value = await solve();
    form.submit();
  });
})();
