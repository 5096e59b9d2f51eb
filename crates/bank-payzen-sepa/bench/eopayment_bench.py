"""eopayment 3.15 doing what benches/payzen.rs does, printed beside the Rust figures.

The request is payzen.md S3's (names, e-mail, order id, HMAC-SHA-256); the response is the
oracle's "card OK" IPN. Best of 7 repeats of 5,000 calls, in microseconds per call.
"""

import sys
import timeit

import eopayment

IPN = ("vads_amount=4990&vads_ctx_mode=TEST&vads_currency=978&vads_site_id=12345678"
       "&vads_trans_date=20240501102030&vads_trans_id=123456&vads_trans_uuid=0123456789abcdef0123456789abcdef"
       "&vads_effective_creation_date=20240501102035&vads_url_check_src=PAY&vads_version=V2"
       "&vads_page_action=PAYMENT&vads_operation_type=DEBIT&vads_result=00&vads_auth_result=00"
       "&vads_trans_status=AUTHORISED&vads_card_brand=CB"
       "&signature=Q9smHb8KCLoZ%2BZbb3FCc4byXz1ahW39VmEZRXXrUB%2Bg%3D")

rust = dict(kv.split("=") for kv in sys.argv[1].split())
p = eopayment.Payment("payzen", dict(
    secret_test="1122334455667788", vads_site_id="12345678", vads_ctx_mode="TEST",
    signature_algo="hmac_sha256", normal_return_url="https://shop.example/return",
    automatic_return_url="https://shop.example/ipn"))
assert p.response(IPN).signed


def best(f, n=5000):
    return min(timeit.repeat(f, number=n, repeat=7)) / n * 1e6


request = best(lambda: p.request(49.90, email="jean@example.com", first_name="Jean",
                                 last_name="Dupont", orderid="ORD-42"))
response = best(lambda: p.response(IPN))
r = {k: float(v) for k, v in rust.items()}
print("| operation | bank-payzen-sepa | bare HMAC-SHA-256 | eopayment 3.15 | bank / bare | eopayment / bank |")
print("|---|---|---|---|---|---|")
print("| build a request | %.2f µs | %.2f µs | %.1f µs | %.2f× | %.0f× |" % (
    r["request_us"], r["request_bare_us"], request, r["request_us"] / r["request_bare_us"], request / r["request_us"]))
total = r["verify_us"] + r["decode_us"]
print("| verify (and decode) an IPN | %.2f µs (+ %.2f µs) | %.2f µs | %.1f µs | %.2f× | %.0f× |" % (
    r["verify_us"], r["decode_us"], r["verify_bare_us"], response, r["verify_us"] / r["verify_bare_us"], response / total))
