// The REST API (PROTOCOL.md, "HTTP API"). Every failure becomes a ContractError with the contract's code,
// so the page can show one readable message whatever went wrong (HTTP error, network, bad JSON).

/** An error from the contract: {code, message}; `status` is the HTTP status when there was one. */
export class ContractError extends Error {
  constructor(code, message, status = null) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

const FRIENDLY = {
  invalid_request: "That request was not valid",
  unauthorized: "Not authorized",
  forbidden: "You are not allowed to do that",
  not_found: "Not found",
  conflict: "That already exists",
  aborted: "The publish was rolled back",
  payload_too_large: "That is too large",
  rate_limited: "Too many requests: slow down a little",
  unavailable: "The service is unavailable right now",
};

/** A sentence for people: the server's message, prefixed by what the code means when that helps. */
export function describeError(error) {
  if (error instanceof ContractError) {
    const friendly = FRIENDLY[error.code];
    const message = error.message && error.message !== error.code ? error.message : "";
    // the server's own sentence may already say what the code means: don't say it twice
    if (friendly && message && message.toLowerCase().startsWith(friendly.toLowerCase())) {
      return message[0].toUpperCase() + message.slice(1);
    }
    if (friendly && message) return `${friendly}: ${message}`;
    return friendly || message || error.code;
  }
  return error && error.message ? error.message : String(error);
}

export class RestApi {
  /** `base` is the http_api endpoint; `token` a bearer token or null. */
  constructor(base, token = null) {
    this.base = base;
    this.token = token;
  }

  async request(method, path, body = undefined) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ContractError("unavailable", `cannot reach the API (${err.message})`);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let payload = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const error = payload && payload.error;
      if (error && error.code) throw new ContractError(error.code, error.message, response.status);
      throw new ContractError(codeForStatus(response.status), `HTTP ${response.status}`, response.status);
    }
    return payload;
  }

  register(email, password) {
    return this.request("POST", "/users", { email, password });
  }

  login(email, password) {
    return this.request("POST", "/users/login", { email, password });
  }

  logout() {
    return this.request("DELETE", "/users/logout");
  }

  self() {
    return this.request("GET", "/users/self");
  }

  topics() {
    return this.request("GET", "/topics");
  }

  inbox(params = {}) {
    const query = new URLSearchParams(params).toString();
    return this.request("GET", `/notifications${query ? `?${query}` : ""}`);
  }

  markSeen(id) {
    return this.request("POST", `/notifications/${encodeURIComponent(id)}/seen`);
  }

  sendMail(to, subject, message) {
    return this.request("POST", "/mail", { to, subject, message });
  }

  mail(id) {
    return this.request("GET", `/mail/${encodeURIComponent(id)}`);
  }

  health() {
    return this.request("GET", "/health");
  }

  /** The avatar's URL (served without auth). */
  avatarUrl(name, size = 64, type = "identicon") {
    const query = new URLSearchParams({ size: String(size), type }).toString();
    return `${this.base}/avatars/${encodeURIComponent(name)}.png?${query}`;
  }
}

function codeForStatus(status) {
  return (
    {
      400: "invalid_request",
      401: "unauthorized",
      403: "forbidden",
      404: "not_found",
      409: "conflict",
      413: "payload_too_large",
      429: "rate_limited",
    }[status] || (status >= 500 ? "unavailable" : "invalid_request")
  );
}
