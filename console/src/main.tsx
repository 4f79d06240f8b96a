// The console's shell: the session (login when the listener needs one),
// the navigation, and hash routing (#/topics/NAME...), so the broker
// serves index.html at / only.
import { render } from "preact";
import { useEffect, useLayoutEffect, useState } from "preact/hooks";
import { api, ApiError, onUnauthorized, type Session } from "./api";
import { ErrorBox, Field, SessionContext, toApiError } from "./ui";
import { Overview } from "./pages/overview";
import { TopicList, TopicPage } from "./pages/topics";
import { Messages } from "./pages/messages";
import { GroupList, GroupPage } from "./pages/groups";
import { Transactions } from "./pages/transactions";
import { Security } from "./pages/security";
import "./style.css";

// The route: #/a/b/c?k=v gives the decoded path segments and the query.
interface Where {
  parts: string[];
  query: URLSearchParams;
}

function useHash(): Where {
  const get = (): Where => {
    const h = location.hash.replace(/^#\/?/, "");
    const q = h.indexOf("?");
    const path = q < 0 ? h : h.slice(0, q);
    return { parts: segments(path || "overview"), query: new URLSearchParams(q < 0 ? "" : h.slice(q + 1)) };
  };
  const [where, setWhere] = useState(get);
  useEffect(() => {
    const f = () => setWhere(get());
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return where;
}

function segments(path: string): string[] {
  return path.split("/").map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
    }
  });
}

const NAV: [string, string][] = [
  ["overview", "Overview"],
  ["topics", "Topics"],
  ["groups", "Consumer groups"],
  ["transactions", "Transactions"],
  ["security", "ACLs and users"],
];

function Route({ where }: { where: Where }) {
  const { parts, query } = where;
  const [a, b, c] = parts;
  if (a === "overview") return <Overview />;
  if (a === "topics" && b && c === "messages") return <Messages key={b + "/" + (query.get("partition") ?? "")} topic={b} partition={query.has("partition") ? Number(query.get("partition")) : undefined} />;
  if (a === "topics" && b) return <TopicPage name={b} />;
  if (a === "topics") return <TopicList />;
  if (a === "groups" && b) return <GroupPage id={b} />;
  if (a === "groups") return <GroupList />;
  if (a === "transactions") return <Transactions />;
  if (a === "security") return <Security />;
  return (
    <>
      <h1>Not found</h1>
      <p>
        No page at <code>#{parts.join("/")}</code>. <a href="#/overview">Overview</a>
      </p>
    </>
  );
}

function Login({ session, done }: { session: Session; done: () => void }) {
  const [user, setUser] = useState("");
  const [pass, setPass] = useState("");
  const mechs = session.mechanisms || [];
  const [mech, setMech] = useState(mechs[0] || "");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api("POST", "/api/login", { username: user, password: pass, mechanism: mech || undefined });
      done();
    } catch (e) {
      setError(toApiError(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    document.title = "Log in · nodata";
  }, []);
  return (
    <main class="login">
      <h1>nodata</h1>
      <p>
        The listener <code>{session.listener}</code> needs a SASL login.
      </p>
      <form onSubmit={submit} data-testid="login-form">
        <Field label="User">
          <input name="username" autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} data-testid="login-user" />
        </Field>
        <Field label="Password">
          <input name="password" type="password" autocomplete="current-password" required value={pass} onInput={(e) => setPass(e.currentTarget.value)} data-testid="login-password" />
        </Field>
        {mechs.length > 1 && (
          <Field label="Mechanism">
            <select value={mech} onChange={(e) => setMech(e.currentTarget.value)} data-testid="login-mechanism">
              {mechs.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </Field>
        )}
        <ErrorBox error={error} />
        <button class="primary" type="submit" disabled={busy} data-testid="login-submit">
          Log in
        </button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const where = useHash();
  const parts = where.parts;
  const load = () =>
    api<Session>("GET", "/api/session").then(
      (s) => {
        setSession(s);
        setError(null);
      },
      (e) => setError(toApiError(e)),
    );
  useLayoutEffect(() => {
    load();
    onUnauthorized(load);
  }, []);
  // A broker still starting (503 STARTING) or restarting: try again.
  useEffect(() => {
    if (!error || session) return;
    const id = setTimeout(load, 2000);
    return () => clearTimeout(id);
  }, [error, session]);
  if (!session)
    return (
      <main>
        <h1>nodata</h1>
        {error ? <ErrorBox error={error} /> : <p role="status">Loading…</p>}
        {error && (
          <button type="button" onClick={load}>
            Retry
          </button>
        )}
      </main>
    );
  if (session.auth === "sasl" && !session.user) return <Login session={session} done={load} />;
  const logout = async () => {
    try {
      await api("POST", "/api/logout", {});
    } finally {
      load();
    }
  };
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header>
        <a class="brand" href="#/overview">nodata</a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([k, label]) => (
              <li key={k}>
                <a href={"#/" + k} aria-current={parts[0] === k ? "page" : undefined} data-testid={"nav-" + k}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {session.read_only && (
            <span class="tag" data-testid="read-only">
              read-only
            </span>
          )}
          <span data-testid="principal">{session.principal}</span>
          {session.auth === "sasl" && (
            <button type="button" onClick={logout} data-testid="logout">
              Log out
            </button>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Route where={where} />
      </main>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
