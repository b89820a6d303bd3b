/**
 * Compile-time tests of the generated SDK: `tsc -p tests/typescript` must accept this file.
 *
 * Each `@ts-expect-error` line must be an error; if the SDK grew looser (a required field
 * made optional, an enum widened to string, an exact object opened), the directive would be
 * unused and tsc would fail with TS2578. Each such line has exactly one way to be wrong.
 */

import {
  type CancelOrderRequest,
  type GatewayClients,
  type Money,
  type Notification,
  type Order,
  OrderClient,
  type OrderStatus,
  type PlaceOrderRequest,
  type Problem,
  ProblemError,
  type Product,
  type SearchProductsQuery,
  type ServerSentEvent,
  type TokenRequest,
  gatewayClients,
  streamEvents,
} from "../../generated/typescript/index.js";

const ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d";

// A complete request type-checks.
export const request: PlaceOrderRequest = {
  customer_id: ID,
  items: [{ product_id: ID, quantity: 2 }],
  delivery: { method: "pickup" },
  card_token: "tok_visa_ok",
};

// Required fields are required.
// @ts-expect-error card_token is required
export const noCard: PlaceOrderRequest = { customer_id: ID, items: [], delivery: { method: "pickup" } };
// @ts-expect-error Money needs its currency
export const noCurrency: Money = { amount_minor: 1250 };

// Optional fields are optional, and may be left out.
export const noReason: CancelOrderRequest = {};
export const pickup: PlaceOrderRequest["delivery"] = { method: "pickup" };

// Enums are unions of their values, not any string.
export const confirmed: OrderStatus = "confirmed";
// @ts-expect-error "lost" is no OrderStatus
export const lost: OrderStatus = "lost";
// @ts-expect-error delivery methods are standard or pickup
export const drone: PlaceOrderRequest["delivery"] = { method: "drone" };
// @ts-expect-error the only currency is EUR
export const dollars: Money = { amount_minor: 1250, currency: "USD" };
// @ts-expect-error grant types are password or refresh_token
export const implicit: TokenRequest = { grant_type: "implicit" };

// Integers are numbers; formats (uuid, date-time) are strings.
// @ts-expect-error amount_minor is a number
export const textAmount: Money = { amount_minor: "1250", currency: "EUR" };
export const when: Product["listed_at"] = "2026-11-28T10:00:00Z";

// additionalProperties: false gives exact object types.
// @ts-expect-error Money has no field "note"
export const noted: Money = { amount_minor: 1250, currency: "EUR", note: "tip" };

// An object without additionalProperties: false stays open (the problem+json body).
export const problem: Problem = { type: "about:blank", title: "Conflict", status: 409, extra: 1 };

// $refs name their types: an order's total is Money, not a number.
export function total(order: Order): Money {
  return order.total;
}
// @ts-expect-error an optional field may be undefined
export const reason = (order: Order): string => order.cancel_reason;

// Clients: typed path, query and body parameters, typed answers.
export async function flows(orders: OrderClient, api: GatewayClients): Promise<OrderStatus> {
  const order: Order = await orders.placeOrder(request);
  await orders.listOrders({ customer_id: order.customer_id, status: "confirmed", limit: 10 });
  // @ts-expect-error customer_id is a required query parameter
  await orders.listOrders({ status: "confirmed" });
  // @ts-expect-error the status filter is an OrderStatus
  await orders.listOrders({ customer_id: ID, status: "lost" });
  // @ts-expect-error unknown query parameters are refused
  await orders.listOrders({ customer_id: ID, colour: "red" });
  // @ts-expect-error getOrder needs the order id
  await orders.getOrder();
  // @ts-expect-error placeOrder's body is a PlaceOrderRequest
  await orders.placeOrder({ customer_id: ID });
  const query: SearchProductsQuery = {};
  const page = await api.product.searchProducts(query);
  const first: Product | undefined = page.items[0];
  // @ts-expect-error a search answers a ProductPage, not an Order
  const wrong: Order = page;
  return first ? order.status : wrong.status;
}

// The event stream hands out ServerSentEvent; a notification is its JSON data.
export function follow(api: GatewayClients, userId: string): Promise<void> {
  return api.notification.streamNotifications(userId, (event: ServerSentEvent) => {
    const notification = JSON.parse(event.data) as Notification;
    console.log(notification.text);
  });
}
// @ts-expect-error streamEvents calls back with a ServerSentEvent
export const badCallback = streamEvents("http://x", null, (event: number) => event);

// Errors carry the problem+json body.
export function explain(error: unknown): string {
  if (error instanceof ProblemError) {
    const body: Problem = error.problem;
    return `${error.status} ${body.title}`;
  }
  return "";
}

export const clients: GatewayClients = gatewayClients("http://127.0.0.1:8000", () => "token");
export const anonymous = new OrderClient("http://127.0.0.1:8000/api/order");
