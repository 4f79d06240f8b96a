// ACLs and SCRAM users: list, add, delete (each delete asks first).
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, enc, type Acl } from "../api";
import { ConfirmButton, ErrorBox, Field, Loading, toApiError, useLoad, useWritable } from "../ui";

const OPERATIONS = ["ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"];

export function Security() {
  useEffect(() => {
    document.title = "ACLs and users · nodata";
  }, []);
  return (
    <>
      <h1>ACLs and users</h1>
      <h2>ACLs</h2>
      <Acls />
      <h2>Users</h2>
      <Users />
    </>
  );
}

function Acls() {
  const writable = useWritable();
  const acls = useLoad(() => api<{ acls: Acl[] }>("GET", "/api/acls"), []);
  const blank: Acl = { resource_type: "TOPIC", resource_name: "", pattern_type: "LITERAL", principal: "User:", host: "*", operation: "READ", permission: "ALLOW" };
  const [a, setA] = useState<Acl>(blank);
  const [error, setError] = useState<ApiError | null>(null);
  const set = (k: keyof Acl) => (e: Event) => setA({ ...a, [k]: (e.currentTarget as HTMLInputElement).value });
  const add = async (e: Event) => {
    e.preventDefault();
    try {
      await api("POST", "/api/acls", a);
      setA(blank);
      setError(null);
      acls.reload();
    } catch (e) {
      setError(toApiError(e));
    }
  };
  const list = acls.data?.acls || [];
  return (
    <>
      <Loading what={acls} />
      {acls.data && !list.length && <p class="muted">No ACLs.</p>}
      {list.length > 0 && (
        <table data-testid="acls-table">
          <thead>
            <tr>
              <th scope="col">Principal</th>
              <th scope="col">Permission</th>
              <th scope="col">Operation</th>
              <th scope="col">Resource</th>
              <th scope="col">Pattern</th>
              <th scope="col">Host</th>
              {writable && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.map((x, i) => (
              <tr key={i} data-testid="acl-row">
                <td>{x.principal}</td>
                <td>{x.permission}</td>
                <td>{x.operation}</td>
                <td>{x.resource_type} <code>{x.resource_name}</code></td>
                <td>{x.pattern_type}</td>
                <td>{x.host}</td>
                {writable && (
                  <td>
                    <ConfirmButton
                      label="Delete"
                      title="Delete this ACL?"
                      message={<p>{x.permission} {x.principal} {x.operation} on {x.resource_type} {x.resource_name} ({x.pattern_type}) from {x.host}</p>}
                      danger
                      testid="acl-delete"
                      action={() => api("DELETE", "/api/acls", x)}
                      done={acls.reload}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {writable && (
        <form onSubmit={add} aria-label="Add an ACL" data-testid="acl-form">
          <div class="toolbar">
            <Field label="Principal">
              <input required value={a.principal} onInput={set("principal")} data-testid="acl-principal" />
            </Field>
            <Field label="Permission">
              <select value={a.permission} onChange={set("permission")} data-testid="acl-permission">
                <option>ALLOW</option>
                <option>DENY</option>
              </select>
            </Field>
            <Field label="Operation">
              <select value={a.operation} onChange={set("operation")} data-testid="acl-operation">
                {OPERATIONS.map((o) => <option key={o}>{o}</option>)}
              </select>
            </Field>
            <Field label="Resource type">
              <select value={a.resource_type} onChange={set("resource_type")} data-testid="acl-resource-type">
                {["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"].map((o) => <option key={o}>{o}</option>)}
              </select>
            </Field>
            <Field label="Resource name">
              <input required value={a.resource_name} onInput={set("resource_name")} data-testid="acl-resource-name" />
            </Field>
            <Field label="Pattern">
              <select value={a.pattern_type} onChange={set("pattern_type")} data-testid="acl-pattern">
                <option>LITERAL</option>
                <option>PREFIXED</option>
              </select>
            </Field>
            <Field label="Host">
              <input required value={a.host} onInput={set("host")} data-testid="acl-host" />
            </Field>
            <button type="submit" class="primary" data-testid="acl-add">
              Add ACL
            </button>
          </div>
          <ErrorBox error={error} />
        </form>
      )}
    </>
  );
}

function Users() {
  const writable = useWritable();
  const users = useLoad(() => api<{ users: { name: string; credentials: { mechanism: string; iterations: number }[] }[] }>("GET", "/api/users"), []);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [mech, setMech] = useState("SCRAM-SHA-256");
  const [iterations, setIterations] = useState("8192");
  const [error, setError] = useState<ApiError | null>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    try {
      await api("POST", "/api/users", { name, password, mechanism: mech, iterations: Number(iterations) });
      setName("");
      setPassword("");
      setError(null);
      users.reload();
    } catch (e) {
      setError(toApiError(e));
    }
  };
  const list = users.data?.users || [];
  return (
    <>
      <Loading what={users} />
      {users.data && !list.length && <p class="muted">No SCRAM users.</p>}
      {list.length > 0 && (
        <table data-testid="users-table">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Mechanism</th>
              <th scope="col" class="num">Iterations</th>
              {writable && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.flatMap((u) =>
              u.credentials.map((c) => (
                <tr key={u.name + c.mechanism} data-testid="user-row" data-user={u.name}>
                  <th scope="row">{u.name}</th>
                  <td>{c.mechanism}</td>
                  <td class="num">{c.iterations}</td>
                  {writable && (
                    <td>
                      <ConfirmButton
                        label="Delete"
                        title={`Delete ${c.mechanism} credential of ${u.name}?`}
                        message={<p>{u.name} can no longer log in with {c.mechanism}.</p>}
                        danger
                        testid="user-delete"
                        action={() => api("DELETE", "/api/users/" + enc(u.name) + "?mechanism=" + enc(c.mechanism))}
                        done={users.reload}
                      />
                    </td>
                  )}
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
      {writable && (
        <form onSubmit={add} aria-label="Add a user" data-testid="user-form">
          <div class="toolbar">
            <Field label="User name">
              <input required autocomplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="user-name" />
            </Field>
            <Field label="Password">
              <input required type="password" autocomplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} data-testid="user-password" />
            </Field>
            <Field label="Mechanism">
              <select value={mech} onChange={(e) => setMech(e.currentTarget.value)} data-testid="user-mechanism">
                <option>SCRAM-SHA-256</option>
                <option>SCRAM-SHA-512</option>
              </select>
            </Field>
            <Field label="Iterations">
              <input type="number" min="4096" value={iterations} onInput={(e) => setIterations(e.currentTarget.value)} data-testid="user-iterations" />
            </Field>
            <button type="submit" class="primary" data-testid="user-add">
              Add user
            </button>
          </div>
          <ErrorBox error={error} />
        </form>
      )}
    </>
  );
}
