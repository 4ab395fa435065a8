#!/usr/bin/env bash
# Kill -9 a gunicorn worker inside checkout at three points (after taking stock, after moving the points,
# after the commit but before the card is captured), ROUNDS times each, on SQLite and PostgreSQL; then
# `flask ledger verify` and an order/ledger cross-check must find no partial order or transfer.
# bench/faults.py starts gunicorn with MALL_FAULT_POINT=<point> (and MALL_FAULT_SECONDS): the app's one
# test hook (mall.checkout.service.fault_point, README's configuration table) holds the worker there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-20}"
DATABASES="${DATABASES:-sqlite postgres}"
status=0
for db in $DATABASES; do
  for point in after_stock after_points after_commit; do
    python bench/faults.py --db "$db" --point "$point" --rounds "$ROUNDS" || status=1
  done
done
exit $status
