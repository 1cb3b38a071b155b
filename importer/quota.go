package importer

import (
	"errors"
	"fmt"

	"airlock/store"
)

// ErrQuota ends an import whose next item would take the mailbox over its
// quota. It wraps store.ErrQuotaExceeded too.
var ErrQuota = errors.New("import stopped: the mailbox is over its quota")

// quotaStop turns a quota refusal of one item into the error that ends the
// import, or returns nil for any other error. Each item is stored in its
// own transaction with the quota checked inside it (AddItemWithinQuota),
// so the refused item left nothing behind; the items before it are kept,
// and a second run after making room skips them as duplicates.
func (im *importer) quotaStop(where string, err error) error {
	var qe *store.QuotaError
	if !errors.As(err, &qe) {
		return nil
	}
	q, qerr := im.st.QuotaOf(im.ctx, im.user.ID)
	used := qe.Used
	if qerr == nil {
		used = q.Used
	}
	im.reportf("%s: not stored: the mailbox of %s is full", where, im.user.Email)
	return fmt.Errorf("%w: %s: %s uses %s of %s; %d items were imported before this one, nothing of it or of what follows was stored; make room or raise the quota, then run the import again (what is already in is skipped as a duplicate): %w",
		ErrQuota, where, im.user.Email, humanBytes(used), humanBytes(qe.Limit), im.sum.TotalImported(), store.ErrQuotaExceeded)
}

// humanBytes writes a size in binary units, as quotas are set.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "KMGTP"[exp])
}
