"""PayPal's official Python server SDK (paypal-server-sdk) against the bank sandbox.

Usage: client.py BASE_URL create | capture ORDER_ID | verify HEADERS_JSON BODY_FILE WEBHOOK_ID
Prints one JSON object. Only the SDK's base URL is changed (its sandbox environment is
pointed at the local sandbox); everything else is the SDK as a merchant uses it.
"""

import json
import subprocess
import sys
import tempfile
import urllib.request
import zlib

from paypalserversdk.configuration import Environment, Server
from paypalserversdk.exceptions.error_exception import ErrorException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.paypal_wallet_experience_context import PaypalWalletExperienceContext
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

CLIENT_ID = "bank-sandbox-client"
SECRET = "bank-sandbox-secret-0123456789"


def client(base):
    from paypalserversdk.configuration import Configuration

    Configuration.environments[Environment.SANDBOX][Server.DEFAULT] = base
    return PaypalServersdkClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=CLIENT_ID, o_auth_client_secret=SECRET
        ),
        environment=Environment.SANDBOX,
    )


def issue(e):
    return e.details[0].issue if e.details else e.name


def order_request(currency, value):
    return OrderRequest(
        intent=CheckoutPaymentIntent.CAPTURE,
        purchase_units=[
            PurchaseUnitRequest(
                amount=AmountWithBreakdown(currency_code=currency, value=value),
                custom_id="sdk-0123456789abcdef",
                invoice_id="sdk-0123456789abcdef",
            )
        ],
        payment_source=PaymentSource(
            paypal=PaypalWallet(
                experience_context=PaypalWalletExperienceContext(
                    return_url="https://shop.example/return",
                    cancel_url="https://shop.example/cancel",
                    user_action="PAY_NOW",
                )
            )
        ),
    )


def create(base):
    orders = client(base).orders
    first = orders.create_order({"body": order_request("EUR", "12.50"), "paypal_request_id": "sdk-order-1", "prefer": "return=representation"})
    again = orders.create_order({"body": order_request("EUR", "12.50"), "paypal_request_id": "sdk-order-1", "prefer": "return=representation"})
    try:
        orders.create_order({"body": order_request("HUF", "100.50"), "paypal_request_id": "sdk-order-2"})
        huf = "accepted"
    except ErrorException as e:
        huf = issue(e)
    links = {l.rel: l.href for l in first.body.links}
    return {
        "id": first.body.id,
        "status": first.body.status,
        "status_code": first.status_code,
        "replay_status_code": again.status_code,
        "same_on_retry": again.body.id == first.body.id,
        "payer_action": links.get("payer-action"),
        "huf": huf,
    }


def capture(base, order_id):
    c = client(base)
    done = c.orders.capture_order({"id": order_id, "paypal_request_id": "sdk-capture-1", "prefer": "return=representation"})
    again = c.orders.capture_order({"id": order_id, "paypal_request_id": "sdk-capture-1", "prefer": "return=representation"})
    try:
        c.orders.capture_order({"id": order_id, "paypal_request_id": "sdk-capture-2"})
        second = "captured twice"
    except ErrorException as e:
        second = issue(e)
    cap = done.body.purchase_units[0].payments.captures[0]
    refund = c.payments.refund_captured_payment(
        {
            "capture_id": cap.id,
            "body": RefundRequest(amount=Money(currency_code="EUR", value="2.50")),
            "paypal_request_id": "sdk-refund-1",
            "prefer": "return=representation",
        }
    )
    after = c.payments.get_captured_payment({"capture_id": cap.id})
    try:
        c.orders.get_order({"id": "NOSUCHORDER0000"})
        missing = "found"
    except ErrorException as e:
        missing = issue(e)
    return {
        "order_status": done.body.status,
        "capture_id": cap.id,
        "capture_status": cap.status,
        "amount": cap.amount.value,
        "replay_status_code": again.status_code,
        "replay_same_capture": again.body.purchase_units[0].payments.captures[0].id == cap.id,
        "second_capture": second,
        "refund_status": refund.body.status,
        "refund_amount": refund.body.amount.value,
        "capture_after_refund": after.body.status,
        "missing": missing,
    }


def verify(headers_file, body_file, webhook_id):
    """The offline algorithm of PayPal's SDKs: CRC-32 of the body, the signed message,
    RSA-SHA256 with the certificate at PAYPAL-CERT-URL (checked by openssl)."""
    headers = {k.lower(): v for k, v in json.load(open(headers_file)).items()}
    body = open(body_file, "rb").read()
    message = "%s|%s|%s|%d" % (
        headers["paypal-transmission-id"],
        headers["paypal-transmission-time"],
        webhook_id,
        zlib.crc32(body) & 0xFFFFFFFF,
    )
    pem = urllib.request.urlopen(headers["paypal-cert-url"]).read()
    import base64

    with tempfile.TemporaryDirectory() as d:
        open(d + "/cert.pem", "wb").write(pem)
        key = subprocess.run(["openssl", "x509", "-in", d + "/cert.pem", "-pubkey", "-noout"], capture_output=True, check=True).stdout
        open(d + "/key.pem", "wb").write(key)
        open(d + "/sig", "wb").write(base64.b64decode(headers["paypal-transmission-sig"]))
        open(d + "/msg", "wb").write(message.encode())
        ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", d + "/key.pem", "-signature", d + "/sig", d + "/msg"], capture_output=True)
    return {"verified": ok.returncode == 0, "algo": headers["paypal-auth-algo"]}


if __name__ == "__main__":
    base, what = sys.argv[1], sys.argv[2]
    if what == "create":
        out = create(base)
    elif what == "capture":
        out = capture(base, sys.argv[3])
    else:
        out = verify(sys.argv[3], sys.argv[4], sys.argv[5])
    print(json.dumps(out))
