"""An independent marketplace generator for testing Storewatch against fraud it was not tuned on.

Why a second generator: a detector developed against one simulator learns that simulator's
habits. This one was written from the public reports on the five schemes alone, without
looking at the detector or the in-house simulator. It has two aims:

* an honest population whose ordinary habits share surface traits with fraud (new stores with
  launch promotions and price-protection claims, deep clearances, flash sales, night-time sales of
  round-priced vouchers, payouts to the seller's own unregistered accounts, daily sweeps of the
  whole balance, one tracking number on a buyer's merged parcel, stores with no store event);
* for each scheme a ``classic`` variant as the reports tell it and evasive variants that each
  change ONE trait a simple rule would key on (depth of a price cut, timing of claims, reuse of
  tracking numbers, the payout account, the pace of a cash-out...).

Round 2 (``--round 2``, ``round2*.py``) adds honest habits round 1 lacked (wholesale, fashion
returns, another time zone, seasonal revival, a bank change, the marketplace-wide sale day,
preorders, hourly payouts, consolidated parcels) and fraud that has learnt to hide (slower,
scaled amounts, rings paying one card, many small payouts, mimicry of those habits).

Round 3 (``--round 3``, ``round3*.py``) adds ten more honest habits (a bulk reseller's monthly
payout, a charity day, siblings paying one family card, digital goods, made-to-order, a weekly
subscription box, live streams, a platform migrant, raise-then-discount marketing, corporate gifts)
and fraud dressed as them.

Round 4 (``--round 4``, ``round4*.py``) is another marketplace, around the 11.11 festival: ten more
honest habits (cross-border parcels weeks in transit, the festival's midnight rush paid out the
next morning, a franchise paying one registered corporate account, group-buying bursts, fixed
round weekly payouts, a neighbourhood grocery's regulars, a harvest week, second-hand items sold
once each, algorithmic daily re-pricing, refurbished goods shipped late), and fraud that takes each
scheme's known shape and changes one or two things an automated check plausibly keys on (three
shallow cuts and claims on two orders in five, a delivery scan bought with the tracking number, a
week's wait and round weekly payouts, openings spread over two weeks...) or dresses as one of those
habits.

Labels are ``legit/<habit>`` or ``<scheme>/<variant>``. Every event follows the input contract of
``stream.core.contract``; money is kept in integer cents so amounts never carry more than 2 decimals, and
a withdrawal never exceeds the balance (placed - cancelled - refunded - earlier withdrawals).
"""

from stream.tools.redteam.generate import generate, main, write
from stream.tools.redteam.population import plan
from stream.tools.redteam.round2 import generate2
from stream.tools.redteam.round2_fraud import VARIANTS2
from stream.tools.redteam.round2_honest import HABITS2
from stream.tools.redteam.round3 import generate3
from stream.tools.redteam.round3_fraud import VARIANTS3
from stream.tools.redteam.round3_honest import HABITS3
from stream.tools.redteam.round4 import generate4
from stream.tools.redteam.round4_fraud import VARIANTS4
from stream.tools.redteam.round4_honest import HABITS4
from stream.tools.redteam.world import HABITS, SCHEMES, VARIANTS

__all__ = [
    "HABITS",
    "HABITS2",
    "HABITS3",
    "HABITS4",
    "SCHEMES",
    "VARIANTS",
    "VARIANTS2",
    "VARIANTS3",
    "VARIANTS4",
    "generate",
    "generate2",
    "generate3",
    "generate4",
    "main",
    "plan",
    "write",
]
