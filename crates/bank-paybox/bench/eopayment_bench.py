"""Times eopayment 3.15's Paybox backend doing what benches/paybox.rs times in bank-paybox:
building the request of eopayment's own test (3-D Secure billing and cart) and parsing a
signed IPN with its RSA signature checked. Prints the comparison table with the numbers
the Rust bench passed in.

Usage: python eopayment_bench.py <rust key=value line> <public key PEM file>
(a module named eopayment.py would hide the eopayment package)
"""

import sys
import timeit

import eopayment
from eopayment import paybox

rust = dict(kv.split("=", 1) for kv in sys.argv[1].split(" "))
query = rust["query"]

with open(sys.argv[2]) as f:
    TEST_PUB = f.read()

# eopayment verifies with Paybox's key, bound as a default argument: give it the
# sandbox's test key that signed the IPN.
paybox.verify.__defaults__ = (TEST_PUB,)

options = {
    "platform": "test",
    "site": "1999888",
    "rang": "001",
    "identifiant": "12345678",
    "shared_secret": "0123456789ABCDEF" * 8,
    "automatic_return_url": "http://example.com/callback",
}
payment = eopayment.Payment("paybox", options)


def request():
    payment.request(
        "19.99",
        email="bdauvergne@entrouvert.com",
        orderid="20160216",
        transaction_id="1234",
        total_quantity="1",
        first_name="Kyan <oo>",
        last_name="Khojandi",
        address1="169 rue du Château",
        zipcode="75014",
        city="Paris",
        country_code="250",
    )


def response():
    r = payment.response(query, callback=True)
    assert r.signed and r.result == eopayment.PAID, r


def best(f, n, repeats=5):
    return min(timeit.repeat(f, number=n, repeat=repeats)) / n * 1e6


response()
eo_request = best(request, 5000)
eo_response = best(response, 1000)

req, hmac_ = float(rust["request_us"]), float(rust["hmac_us"])
ver, rsa_ = float(rust["verify_us"]), float(rust["rsa_us"])
print("| operation | bank-paybox | bare cryptography | eopayment 3.15 | bank-paybox / bare | eopayment / bank-paybox |")
print("|---|---|---|---|---|---|")
print(f"| build a request (form + PBX_HMAC) | {req:.2f} µs | {hmac_:.2f} µs (one HMAC-SHA512) | {eo_request:.1f} µs | {req / hmac_:.2f}× | {eo_request / req:.0f}× |")
print(f"| verify a signed IPN | {ver:.2f} µs | {rsa_:.2f} µs (SHA-1 + one RSA-1024 verification) | {eo_response:.1f} µs | {ver / rsa_:.2f}× | {eo_response / ver:.0f}× |")
