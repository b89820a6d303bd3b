/**
 * The A4CO storefront: search the catalogue, open a product, register or log in, order it for
 * pickup, and watch the order's status arrive on the live notification stream. A logged-in
 * customer's searches, product views and confirmed purchases are tracked (user service), and
 * the recommendation service's picks for them are shown. Plain DOM on the generated
 * TypeScript SDK; every call goes through the gateway.
 *
 * The gateway's URL comes from `?gateway=http://…`, else from `config.json` (which `a4co up`
 * writes next to this page), else it is this page's own origin.
 */

import {
  type GatewayClients,
  type Notification,
  type Order,
  type OrderStatus,
  type Product,
  type ProductCategory,
  ProblemError,
  type Province,
  type RecommendationItem,
  type ServerSentEvent,
  type TrackBehaviorRequest,
  gatewayClients,
} from "../generated/typescript/index.js";

interface Session {
  token: string;
  userId: string;
  email: string;
}

const PROVINCES: readonly Province[] = [
  "jaen",
  "almeria",
  "cadiz",
  "cordoba",
  "granada",
  "huelva",
  "malaga",
  "sevilla",
];
const REASONS: Readonly<Record<RecommendationItem["reason"], string>> = {
  behavior: "from what you looked at and bought",
  segment: "for customers like you",
  new_product: "new in the catalogue",
  popular: "popular",
};
const FINAL: ReadonlySet<OrderStatus> = new Set(["confirmed", "cancelled", "rejected", "delivered"]);
/**
 * Notifications that announce an order's final status. They name no order, so the page
 * applies them to the order it placed last; other order notifications make it re-read that
 * order (the read model may lag behind a final notification, hence this table).
 */
const STATUS_OF_TEMPLATE: Readonly<Record<string, OrderStatus>> = {
  order_confirmed: "confirmed",
  order_cancelled: "cancelled",
  order_delivered: "delivered",
};
const CARD = "tok_visa_ok";
const RECOMMENDED = 5;
/** How long after a tracked action the picks are read again (the action travels by events). */
const RECOMMEND_AFTER_MS = 1_500;
const LOGIN_WAIT_MS = 10_000;
const RECONNECT_MS = 3_000;

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`the page has no #${id}`);
  }
  return found as T;
}

function field(form: HTMLFormElement, name: string): string {
  const value = new FormData(form).get(name);
  return typeof value === "string" ? value.trim() : "";
}

function describe(error: unknown): string {
  if (error instanceof ProblemError) {
    return error.problem.detail ? `${error.problem.title}: ${error.problem.detail}` : error.problem.title;
  }
  return error instanceof Error ? error.message : String(error);
}

function euros(money: { amount_minor: number; currency: string }): string {
  return `${(money.amount_minor / 100).toFixed(2).replace(".", ",")} ${money.currency}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The `sub` claim of a JWT (read, not verified: the services verify it). */
function subjectOf(token: string): string {
  const payload = (token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/");
  const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "="))) as {
    sub?: unknown;
  };
  if (typeof claims.sub !== "string") {
    throw new Error("the access token names no user");
  }
  return claims.sub;
}

async function gatewayUrl(): Promise<string> {
  const given = new URLSearchParams(location.search).get("gateway");
  if (given) {
    return given;
  }
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) {
      const config = (await response.json()) as { gateway?: unknown };
      if (typeof config.gateway === "string") {
        return config.gateway;
      }
    }
  } catch {
    // No config.json: the gateway is this page's origin.
  }
  return location.origin;
}

class Storefront {
  private readonly api: GatewayClients;
  private session: Session | null = null;
  private product: Product | null = null;
  private order: Order | null = null;
  /** The product of the order placed last, and whether its purchase has been tracked. */
  private ordered: { productId: string; category: ProductCategory; tracked: boolean } | null =
    null;
  private placing: Notification[] | null = null;
  private registered = "";
  private stream: AbortController | null = null;

  constructor(gateway: string) {
    this.api = gatewayClients(gateway, () => this.session?.token);
  }

  start(): void {
    const provinces = element<HTMLSelectElement>("register-province");
    for (const province of PROVINCES) {
      provinces.add(new Option(province, province));
    }
    this.on("search-form", (form) => this.search(field(form, "q")));
    this.on("register-form", (form) => this.register(form));
    this.on("login-form", (form) => this.logIn(field(form, "email"), field(form, "password")));
    this.on("order-form", (form) => this.placeOrder(Number(field(form, "quantity"))));
    element("recommendations-refresh").addEventListener("click", () => {
      void this.recommend();
    });
    document.body.dataset.ready = "true";
  }

  private on(id: string, submit: (form: HTMLFormElement) => Promise<void>): void {
    const form = element<HTMLFormElement>(id);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void submit(form);
    });
  }

  async search(q: string): Promise<void> {
    const status = element("search-status");
    const results = element("results");
    status.textContent = "Searching…";
    results.replaceChildren();
    this.tell({ action: "searched", query: q });
    try {
      const page = await this.api.product.searchProducts({ q, limit: 20 });
      status.textContent = page.items.length ? `${page.items.length} found` : "Nothing found.";
      for (const product of page.items) {
        const item = document.createElement("li");
        item.append(this.productLink(product));
        results.append(item);
      }
    } catch (error) {
      status.textContent = `Search failed: ${describe(error)}`;
    }
  }

  async open(productId: string): Promise<void> {
    try {
      const product = await this.api.product.getProduct(productId);
      this.product = product;
      element("product-name").textContent = product.name;
      element("product-description").textContent = product.description;
      element("product-price").textContent = euros(product.price);
      element("product-available").textContent = `${product.available} available`;
      element("product").hidden = false;
      element("product").dataset.productId = product.product_id;
      this.refreshOrderButton();
      this.tell({
        action: "viewed_product",
        product_id: product.product_id,
        category: product.category,
      });
    } catch (error) {
      element("search-status").textContent = `Could not open the product: ${describe(error)}`;
    }
  }

  async register(form: HTMLFormElement): Promise<void> {
    const message = element("account-message");
    const email = field(form, "email");
    const password = field(form, "password");
    message.textContent = "Registering…";
    try {
      await this.api.user.registerUser({
        email,
        full_name: field(form, "full_name"),
        role: "customer",
        province: field(form, "province") as Province,
        password,
      });
    } catch (error) {
      message.textContent = `Registration failed: ${describe(error)}`;
      return;
    }
    const login = element<HTMLFormElement>("login-form").elements.namedItem("email");
    if (login instanceof HTMLInputElement) {
      login.value = email;
    }
    this.registered = email;
    message.textContent = `Registered ${email}: log in to order.`;
  }

  async logIn(email: string, password: string): Promise<void> {
    const message = element("account-message");
    message.textContent = "Logging in…";
    // Auth makes a login from the user service's events, a moment after registration: a
    // refusal right after registering here is retried for a while.
    const deadline = Date.now() + (email === this.registered ? LOGIN_WAIT_MS : 0);
    for (;;) {
      try {
        const tokens = await this.api.auth.issueToken({
          grant_type: "password",
          username: email,
          password,
        });
        this.session = { token: tokens.access_token, userId: subjectOf(tokens.access_token), email };
        break;
      } catch (error) {
        if (error instanceof ProblemError && error.status === 401 && Date.now() < deadline) {
          await sleep(500);
          continue;
        }
        message.textContent = `Login failed: ${describe(error)}`;
        return;
      }
    }
    message.textContent = `Welcome, ${email}.`;
    const session = element("session");
    session.textContent = `Logged in as ${email}`;
    session.dataset.state = "logged-in";
    session.dataset.userId = this.session.userId;
    this.refreshOrderButton();
    this.follow(this.session);
    element("for-you").hidden = false;
    void this.recommend();
  }

  private refreshOrderButton(): void {
    const ready = this.session !== null && this.product !== null && this.product.available > 0;
    element<HTMLButtonElement>("order-button").disabled = !ready;
    element("order-hint").hidden = this.session !== null;
  }

  async placeOrder(quantity: number): Promise<void> {
    if (this.session === null || this.product === null) {
      return;
    }
    const status = element("order-status");
    element("order").hidden = false;
    element("order-id").textContent = "…";
    status.textContent = "placing";
    status.dataset.source = "";
    this.placing = [];
    this.ordered = {
      productId: this.product.product_id,
      category: this.product.category,
      tracked: false,
    };
    try {
      this.order = await this.api.order.placeOrder({
        customer_id: this.session.userId,
        items: [{ product_id: this.product.product_id, quantity }],
        delivery: { method: "pickup" },
        card_token: CARD,
      });
    } catch (error) {
      status.textContent = `not placed (${describe(error)})`;
      this.placing = null;
      return;
    }
    element("order-id").textContent = this.order.order_id;
    element("order-total").textContent = `Total ${euros(this.order.total)}`;
    this.showStatus(this.order.status, "placed");
    const early = this.placing;
    this.placing = null;
    for (const notification of early) {
      await this.track(notification);
    }
  }

  private showStatus(status: OrderStatus, source: "placed" | "stream"): void {
    const shown = element("order-status");
    const current = shown.textContent as OrderStatus;
    if (source === "stream" && FINAL.has(current)) {
      return;
    }
    shown.textContent = status;
    shown.dataset.source = source;
    if (status === "confirmed" && this.ordered !== null && !this.ordered.tracked) {
      this.ordered.tracked = true;
      const { productId, category } = this.ordered;
      this.tell({ action: "purchased", product_id: productId, category });
    }
  }

  /**
   * Tell the user service what the customer did (when logged in), then read the picks again
   * a moment later, once the action has reached the recommendation service.
   */
  private tell(action: TrackBehaviorRequest): void {
    if (this.session === null) {
      return;
    }
    const tracked = element("tracked");
    void this.api.user.trackBehavior(this.session.userId, action).then(
      () => {
        tracked.textContent = `${Number(tracked.textContent ?? "0") + 1}`;
        tracked.dataset.last = action.action;
        setTimeout(() => void this.recommend(), RECOMMEND_AFTER_MS);
      },
      (error: unknown) => {
        tracked.dataset.error = describe(error);
      },
    );
  }

  /** Show the recommendation service's picks for the logged-in customer, named. */
  async recommend(): Promise<void> {
    if (this.session === null) {
      return;
    }
    const state = element("recommendations-state");
    const list = element("recommendations");
    try {
      const picks = await this.api.recommendation.getRecommendations(this.session.userId, {
        limit: RECOMMENDED,
      });
      const products = await Promise.all(
        picks.items.map((pick) => this.api.product.getProduct(pick.product_id)),
      );
      list.replaceChildren(...picks.items.map((pick, i) => this.pick(pick, products[i])));
      list.dataset.generatedAt = picks.generated_at;
      state.textContent = picks.items.length ? "" : "Nothing to recommend yet.";
    } catch (error) {
      state.textContent = `Could not load recommendations: ${describe(error)}`;
    }
  }

  private pick(pick: RecommendationItem, product: Product): HTMLLIElement {
    const item = document.createElement("li");
    item.dataset.productId = pick.product_id;
    item.dataset.reason = pick.reason;
    item.append(this.productLink(product), ` (${REASONS[pick.reason]})`);
    return item;
  }

  /** A button naming `product` and its price that opens it. */
  private productLink(product: Product): HTMLButtonElement {
    const open = document.createElement("button");
    open.type = "button";
    open.className = "product-link";
    open.dataset.productId = product.product_id;
    open.textContent = `${product.name} — ${euros(product.price)}`;
    open.addEventListener("click", () => void this.open(product.product_id));
    return open;
  }

  /** Follow the user's notifications until logout, reconnecting when the stream drops. */
  private follow(session: Session): void {
    this.stream?.abort();
    const stop = new AbortController();
    this.stream = stop;
    const state = element("stream-state");
    const onEvent = (event: ServerSentEvent): void => {
      if (event.event === "notification") {
        void this.notified(JSON.parse(event.data) as Notification);
      }
    };
    const onOpen = (): void => {
      state.dataset.state = "open";
      state.textContent = "Live: new notifications appear below.";
    };
    void (async () => {
      while (!stop.signal.aborted) {
        state.dataset.state = "connecting";
        state.textContent = "Connecting…";
        try {
          await this.api.notification.streamNotifications(session.userId, onEvent, {
            signal: stop.signal,
            onOpen,
          });
        } catch (error) {
          state.textContent = `The stream broke off (${describe(error)}); reconnecting.`;
        }
        if (!stop.signal.aborted) {
          state.dataset.state = "reconnecting";
          await sleep(RECONNECT_MS);
        }
      }
    })();
  }

  private async notified(notification: Notification): Promise<void> {
    const item = document.createElement("li");
    item.dataset.template = notification.template;
    item.textContent = notification.text;
    element("feed").prepend(item);
    if (this.placing !== null) {
      this.placing.push(notification);
      return;
    }
    await this.track(notification);
  }

  /** Move the order's status on from a notification about it. */
  private async track(notification: Notification): Promise<void> {
    if (this.order === null || !notification.related_subject.startsWith("order.")) {
      return;
    }
    const final = STATUS_OF_TEMPLATE[notification.template];
    if (final !== undefined) {
      this.showStatus(final, "stream");
      return;
    }
    try {
      const order = await this.api.order.getOrder(this.order.order_id);
      this.showStatus(order.status, "stream");
    } catch (error) {
      element("order-total").textContent = `Could not refresh the order: ${describe(error)}`;
    }
  }
}

void gatewayUrl().then((gateway) => new Storefront(gateway).start());
