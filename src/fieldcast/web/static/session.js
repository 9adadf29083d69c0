// The session's CSRF token for writes. A page for visitors who are not signed in may come from a
// shared cache (the app's own, or nginx's micro-cache): the same bytes for everyone, with no token
// in it and no cookie set. Such a page asks for its session here the first time it needs one:
// before a form is sent, before a write is fetched, and (the room) before its socket opens, so
// the viewer is counted as one person.

const meta = document.querySelector('meta[name="csrf-token"]');
let pending = null;

/** The token in the page now ("" until the session is known). */
export function csrfToken() {
  return meta?.getAttribute("content") || "";
}

/** The token, asking the server for the session first when the page came without one. */
export async function ensureSession() {
  if (csrfToken()) return csrfToken();
  pending =
    pending ||
    fetch("/api/v1/auth/csrf", { headers: { accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : {}))
      .then((body) => {
        if (body.csrf_token) meta?.setAttribute("content", body.csrf_token);
        return csrfToken();
      })
      .catch(() => "")
      .finally(() => {
        pending = null;
      });
  return pending;
}

/** Ask the server again (signed in or out in another tab: the old token is refused). */
export async function refreshSession() {
  meta?.setAttribute("content", "");
  return ensureSession();
}

// A form whose csrf_token field is empty waits for the token, then goes as the visitor sent it.
document.addEventListener(
  "submit",
  async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const fields = [...form.querySelectorAll('input[name="csrf_token"]')];
    if (!fields.some((field) => !field.value)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const token = await ensureSession();
    if (!token) return;
    for (const field of fields) field.value = token;
    const submitter = event.submitter && event.submitter.form === form ? event.submitter : undefined;
    form.requestSubmit(submitter);
  },
  true,
);
