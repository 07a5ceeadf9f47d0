#!/bin/sh
# Daily backup of the OCOP bot's PostgreSQL database (run by ocop-bot-backup.timer).
#   PGURL       the database, libpq form: postgresql://ocop@127.0.0.1:5432/ocop
#   BACKUP_DIR  where the dumps go, e.g. /var/backups/ocop
#   KEEP_DAYS   days of dumps to keep (default 14)
set -eu
: "${PGURL:?set PGURL}" "${BACKUP_DIR:?set BACKUP_DIR}"
KEEP_DAYS="${KEEP_DAYS:-14}"
mkdir -p "$BACKUP_DIR"
file="$BACKUP_DIR/ocop-$(date +%Y-%m-%d).dump"
pg_dump --format=custom --no-owner --file="$file.part" "$PGURL"
mv "$file.part" "$file"
find "$BACKUP_DIR" -name 'ocop-*.dump' -mtime +"$KEEP_DAYS" -delete
echo "backup written: $file"
