// The JSON API of docs/http-api.md: one fetch wrapper, errors as ApiError
// (the status and the API's {"error": {"code", "message"}}).

export class ApiError extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Called on any 401: the session ended (idle, broker restart), so the
// shell asks for a login again.
let unauthorized: () => void = () => {};
export function onUnauthorized(f: () => void) {
  unauthorized = f;
}

export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin" };
  if (body !== undefined) {
    // The API refuses a mutating POST without this type (no cross-site
    // form posts), so every body is sent as JSON.
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let r: Response | null = method === "GET" ? await prefetched(path) : null;
  try {
    if (!r) r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "NETWORK_ERROR", "the broker cannot be reached: " + String(e));
  }
  if (r.status === 204) return null as T;
  let j: any = null;
  try {
    j = await r.json();
  } catch {
    if (r.ok) throw new ApiError(r.status, "BAD_ANSWER", "the answer is not JSON");
  }
  if (!r.ok) {
    const e = (j && j.error) || {};
    if (r.status === 401 && !path.endsWith("/api/login")) unauthorized();
    throw new ApiError(r.status, e.code || "HTTP_" + r.status, e.message || r.statusText);
  }
  return j as T;
}

// index.html starts the first page's GETs before this script runs. Their
// answer is used once, if it is at most 5 s old and a success (a 401
// before a login, or a broker still starting, is asked again).
async function prefetched(path: string): Promise<Response | null> {
  const all = (window as any).__ndPrefetch as Record<string, { at: number; r: Promise<Response> }> | undefined;
  const p = all && all[path];
  if (!p) return null;
  delete all![path];
  if (Date.now() - p.at > 5000) return null;
  try {
    const r = await p.r;
    return r.ok ? r : null;
  } catch {
    return null;
  }
}

export const enc = encodeURIComponent;

export function qs(params: Record<string, string | number | undefined | null>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") parts.push(enc(k) + "=" + enc(String(v)));
  return parts.length ? "?" + parts.join("&") : "";
}

// ---- the API's shapes (docs/http-api.md) ----

export interface Session {
  auth: "none" | "sasl";
  mechanisms: string[];
  user: string | null;
  principal: string | null;
  read_only: boolean;
  listener: string;
}

export interface Bytes {
  encoding: "null" | "utf8" | "hex";
  text?: string;
  hex?: string;
  size?: number;
}

export interface Topic {
  name: string;
  id: string;
  internal: boolean;
  partition_count: number;
  size_bytes: number;
  records: number;
  cleanup_policy: string;
  retention_ms: number | null;
  retention_bytes: number | null;
  produce_records_s: number | null;
  partitions?: Partition[];
  configs?: Config[];
}

export interface Partition {
  partition: number;
  log_start: number;
  high_watermark: number;
  last_stable: number;
  size_bytes: number;
  records: number;
}

export interface Config {
  name: string;
  value: string | null;
  source: string;
  is_default: boolean;
  sensitive: boolean;
  read_only: boolean;
  documentation?: string;
}

export interface Message {
  offset: number;
  partition?: number;
  timestamp_ms: number;
  timestamp_type: string;
  key: Bytes;
  value: Bytes;
  headers: { key: string; value: Bytes }[];
  compression: string;
  batch_offset: number;
  producer_id: number;
  transactional: boolean;
}

export interface Group {
  group_id: string;
  type: string;
  state: string;
  protocol_type: string;
  protocol: string;
  member_count: number;
  lag: number | null;
  topics: string[];
  members?: {
    member_id: string;
    instance_id: string | null;
    client_id: string;
    host: string;
    // null when the bytes are not a consumer's assignment (a connect
    // group's, or undecodable): assignment_bytes then has them in hex.
    assignment: { topic: string; partitions: number[] }[] | null;
    assignment_bytes?: Bytes;
  }[];
  offsets?: {
    topic: string;
    partition: number;
    committed: number;
    log_end: number | null;
    lag: number | null;
    metadata: string | null;
  }[];
}

export interface Acl {
  resource_type: string;
  resource_name: string;
  pattern_type: string;
  principal: string;
  host: string;
  operation: string;
  permission: string;
}
