// Runs the compiled TypeScript SDK against running services and prints what it saw as JSON.
// Usage: node sdk_runtime.mjs '{"sdk": "<compiled dir URL>", "geo": "<url>", "user": "<url>",
//   "user_id": "<uuid>", "token": "<that user's access token>"}'; with only "sdk" (and
// "stream_only": true) it checks `streamEvents` alone, on a server of its own.
// tests/contract/test_typescript_sdk.py runs it and checks the output.

import http from "node:http";

const args = JSON.parse(process.argv[2]);
const sdk = await import(`${args.sdk}/index.js`);
const seen = {};

if (!args.stream_only) {
  // geo: public queries, a query string.
  const geo = new sdk.GeoClient(args.geo);
  const provinces = await geo.listProvinces();
  seen.provinces = provinces.items.map((p) => p.province);
  seen.distance = await geo.getDistance({ from_province: "jaen", to_province: "granada" });

  // user: a public command, then a read with the token's getter and one without a token.
  const anonymous = new sdk.UserClient(args.user);
  const email = `sdk-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.es`;
  const registered = await anonymous.registerUser({
    email,
    full_name: "Lucía Martínez",
    role: "customer",
    province: "jaen",
    password: "correct-horse-battery",
  });
  seen.registered = { email: registered.email, sent: email, role: registered.role };
  const asUser = new sdk.UserClient(args.user, async () => args.token);
  seen.profile = await asUser.getProfile(args.user_id);
  try {
    await anonymous.getProfile(args.user_id);
    seen.anonymous = "no error";
  } catch (error) {
    seen.anonymous = {
      isProblemError: error instanceof sdk.ProblemError,
      status: error.status,
      problem: error.problem,
    };
  }
  try {
    await anonymous.registerUser({ email: "not an e-mail", full_name: "", role: "customer", province: "jaen" });
    seen.invalid = "no error";
  } catch (error) {
    seen.invalid = { isProblemError: error instanceof sdk.ProblemError, status: error.status };
  }
}

// streamEvents on a local server that splits lines (and a CRLF) across chunks.
const chunks = [
  "retry: 3000\r\n: connected\r\n\r",
  "\nevent: notification\r\nid: 1\r\ndata: {\"a\":",
  " 1}\r\n\r\ndata: line one\ndata: line two\n\n",
  ": keep-alive\n\nevent: notification\nid: 2\ndata: {\"b\": 2}\n\n",
];
const requests = [];
const server = http.createServer((request, response) => {
  requests.push({ authorization: request.headers.authorization, accept: request.headers.accept });
  response.writeHead(request.url === "/denied" ? 403 : 200, {
    "content-type": request.url === "/denied" ? "application/problem+json" : "text/event-stream",
  });
  if (request.url === "/denied") {
    response.end(JSON.stringify({ type: "about:blank", title: "Forbidden", status: 403 }));
    return;
  }
  let i = 0;
  const next = () => {
    if (i < chunks.length) {
      response.write(chunks[i++]);
      setTimeout(next, 20);
    } else {
      response.end();
    }
  };
  next();
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${server.address().port}`;
const events = [];
let opened = 0;
await sdk.streamEvents(`${base}/events`, "secret", (event) => events.push(event), {
  onOpen: () => (opened += 1),
});
seen.events = events;
seen.opened = opened;
try {
  await sdk.streamEvents(`${base}/denied`, null, () => undefined);
  seen.denied = "no error";
} catch (error) {
  seen.denied = { isProblemError: error instanceof sdk.ProblemError, status: error.status };
}
seen.requests = requests;
server.close();

process.stdout.write(JSON.stringify(seen));
