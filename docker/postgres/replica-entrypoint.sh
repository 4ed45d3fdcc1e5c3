#!/bin/bash
# A hot standby streaming from the primary: cloned with pg_basebackup on first start.
set -euo pipefail
export PGDATA=/var/lib/postgresql/data
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup --host=postgres --username=replicator --pgdata="$PGDATA" \
            --wal-method=stream --slot=replica1 --write-recovery-conf --progress; do
        echo "waiting for the primary..."; sleep 2
    done
    chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
