"""eopayment 3.15's PayZen form for a payment given as one JSON argument, printed as JSON.

Its options are the shop's settings, its request's arguments the payer and the order; the
fields eopayment has no argument for are passed first, as it passes extra keyword
arguments. The clock and the transaction id are fixed, as the caller gives them. Used by
bank-payzen-sepa's and bank-cli's tests as an independent implementation.
"""

import json, sys
from unittest import mock
import eopayment, eopayment.systempayv2 as sp
a = json.loads(sys.argv[1])
opts = dict(secret_test=a['key'], vads_site_id=a['site'], vads_ctx_mode='TEST',
            signature_algo=a['algo'], normal_return_url=a['return'],
            automatic_return_url=a['check'], vads_contrib=a['contrib'],
            vads_payment_cards=a['cards'])
p = eopayment.Payment('payzen', opts)
p.backend._vads_trans_id = a['trans_id']
with mock.patch.object(sp, 'isonow', return_value=a['date']):
    sp.PARAMETERS[[x.name for x in sp.PARAMETERS].index('vads_trans_date')].default = lambda: a['date']
    tid, kind, form = p.request(a['amount'], first_name=a.get('first'), last_name=a.get('last'),
                               email=a.get('email'), orderid=a['order'], info1=a['info'],
                               **dict(a.get('extra', [])))
print(json.dumps({'url': form.url, 'method': form.method,
                  'fields': [[f['name'], f['value']] for f in form.fields]}))
