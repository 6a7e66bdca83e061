# Rows per DELETE statement (and per transaction) when retention prunes the trail.
AUDIT_PRUNE_BATCH = 5000
# The transaction-local setting that lets a DELETE through the table's trigger (retention only).
PRUNE_FLAG = "cc.audit_prune"
