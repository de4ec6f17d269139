// The WebAuthn prompt of the bank's pages: the only script they load, served from /static under
// the strict CSP (script-src 'self', no inline script). A form marked data-webauthn="get" (sign-in,
// payment) or "create" (adding a key on the dashboard) carries the server's options as JSON in
// data-webauthn-options. On submit the browser asks the authenticator; its answer goes, as JSON
// with base64url fields, into the form's hidden `credential` field and the form is sent. Without
// this script, or without WebAuthn in the browser, nothing is sent: the page says what is needed.
// Messages here describe the browser's side only; whether the answer is right is the server's to
// say, and it says the same thing for every factor.

const form = document.querySelector('form[data-webauthn]');
if (form) setUp(form);

function setUp(form) {
  const ceremony = form.dataset.webauthn === 'create' ? 'create' : 'get';
  const button = form.querySelector('[data-webauthn-start]');
  const status = document.getElementById('webauthn-status');
  const answer = form.elements.namedItem('credential');
  const say = (text, kind) => {
    status.textContent = text;
    status.className = `webauthn-status ${kind}`;
  };
  // The challenge the page carries lives a few minutes on the server: past that, fetch a new page
  // rather than have the customer touch the key for an answer that can only be refused.
  const refresh = form.dataset.webauthnRefresh;
  const loadedAt = Date.now();

  let options;
  try {
    options = JSON.parse(form.dataset.webauthnOptions ?? '');
  } catch {
    say('This page could not prepare your security key. Reload it and try again.', 'alert');
    return;
  }
  if (!window.PublicKeyCredential || !navigator.credentials) {
    say(`This browser cannot use security keys or passkeys. ${elsewhere(ceremony)}`, 'alert');
    return;
  }
  button.hidden = false;
  button.disabled = false;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (refresh && Date.now() - loadedAt > (options.timeout ?? 120000)) {
      say('This page has expired. Loading a fresh one…', 'waiting');
      window.location.assign(refresh);
      return;
    }
    button.disabled = true;
    say(
      ceremony === 'create'
        ? 'Follow your browser’s instructions: touch your security key, or confirm with your fingerprint, face or screen lock.'
        : 'Touch your security key, or confirm with your fingerprint, face or screen lock.',
      'waiting',
    );
    try {
      const credential =
        ceremony === 'create'
          ? await navigator.credentials.create({ publicKey: creationOptions(options) })
          : await navigator.credentials.get({ publicKey: requestOptions(options) });
      if (!credential) throw new DOMException('no credential', 'NotAllowedError');
      answer.value = JSON.stringify(ceremony === 'create' ? attestationJSON(credential) : assertionJSON(credential));
      say(ceremony === 'create' ? 'Saving your key…' : 'Checking…', 'waiting');
      form.submit();
    } catch (err) {
      button.disabled = false;
      say(messageFor(err, ceremony), 'alert');
    }
  });
}

/** Where else the customer can go, in words matching the page. */
function elsewhere(ceremony) {
  if (ceremony === 'create') return 'Use another browser, or set up an authenticator app instead.';
  return document.querySelector('.factor-links a')
    ? 'Use another browser, or use another way to confirm below.'
    : 'Use another browser.';
}

function messageFor(err, ceremony) {
  const name = err && typeof err === 'object' && 'name' in err ? err.name : '';
  if (name === 'NotAllowedError' || name === 'AbortError') {
    return 'Nothing was confirmed: the request was cancelled or timed out. Try again when your key is ready.';
  }
  if (name === 'InvalidStateError' && ceremony === 'create') {
    return 'This security key or passkey is already set up for your account.';
  }
  if (name === 'SecurityError') return `This page’s address cannot be used with security keys. ${elsewhere(ceremony)}`;
  if (name === 'NotSupportedError') return `Your security key cannot be used here. ${elsewhere(ceremony)}`;
  return `Your security key or passkey did not answer. Try again. ${elsewhere(ceremony)}`;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: fromBase64url(c.id) }));

function requestOptions(json) {
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

function creationOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function common(credential) {
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    // null when the browser does not say: left out rather than sent as null.
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

function assertionJSON(credential) {
  const r = credential.response;
  return {
    ...common(credential),
    response: {
      clientDataJSON: toBase64url(r.clientDataJSON),
      authenticatorData: toBase64url(r.authenticatorData),
      signature: toBase64url(r.signature),
      userHandle: r.userHandle ? toBase64url(r.userHandle) : undefined,
    },
  };
}

function attestationJSON(credential) {
  const r = credential.response;
  return {
    ...common(credential),
    response: {
      clientDataJSON: toBase64url(r.clientDataJSON),
      attestationObject: toBase64url(r.attestationObject),
      transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
    },
  };
}
