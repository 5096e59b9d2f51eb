"""Stripe's official Python library against the bank-stripe sandbox.

Usage: client.py <api base> <step> [args...]; prints one JSON object.
The sandbox must answer what stripe-python sends and parse what it answers, and a webhook
signed by the sandbox must pass stripe-python's own signature check.
"""
import json
import sys

import stripe

SECRET_KEY = "sk_test_bank_sandbox_0123456789"


def client(base):
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": base}, max_network_retries=0)


def session_params(quantity=1):
    return {
        "mode": "payment",
        "success_url": "http://127.0.0.1/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1/ko",
        "client_reference_id": "shop-aaaaaaaaaaaaaaaa",
        "line_items": [{"quantity": quantity, "price_data": {
            "currency": "eur", "unit_amount": 1250, "product_data": {"name": "Order"}}}],
        "metadata": {"reference": "shop-aaaaaaaaaaaaaaaa", "installation": "shop"},
    }


def main():
    base, step, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    c = client(base)
    out = {}
    if step == "create":
        s = c.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "official-1"})
        again = c.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "official-1"})
        try:
            c.v1.checkout.sessions.create(params=session_params(2), options={"idempotency_key": "official-1"})
            reuse = "accepted"
        except stripe.IdempotencyError:
            reuse = "IdempotencyError"
        out = {"id": s.id, "url": s.url, "amount_total": s.amount_total, "currency": s.currency,
               "payment_status": s.payment_status, "same_on_retry": again.id == s.id,
               "reuse_other_params": reuse}
    elif step == "after_payment":
        s = c.v1.checkout.sessions.retrieve(args[0])
        refund = c.v1.refunds.create(params={"payment_intent": s.payment_intent, "amount": 250},
                                     options={"idempotency_key": "official-refund-1"})
        try:
            c.v1.refunds.create(params={"payment_intent": "pi_does_not_exist"})
            missing = "accepted"
        except stripe.InvalidRequestError as e:
            missing = e.code
        out = {"status": s.status, "payment_status": s.payment_status,
               "payment_intent": s.payment_intent, "refund_amount": refund.amount,
               "refund_status": refund.status, "missing": missing}
    elif step == "webhook":
        header, payload_file, secret = args
        payload = open(payload_file, "rb").read()
        event = stripe.Webhook.construct_event(payload, header, secret)
        try:
            stripe.Webhook.construct_event(payload + b" ", header, secret)
            tampered = "accepted"
        except stripe.SignatureVerificationError:
            tampered = "SignatureVerificationError"
        out = {"type": event["type"], "id": event["id"], "tampered": tampered}
    print(json.dumps(out))


main()
