package activesync

// Notifier tells waiting requests (Ping, Sync with Wait) that a folder
// changed. The store publishes every committed change; on PostgreSQL the
// publication crosses nodes (LISTEN/NOTIFY), so a Ping held on one node
// wakes for mail delivered through another.
type Notifier interface {
	// Subscribe registers interest in some of a user's folders and in the
	// user's folder hierarchy. The returned channel receives the id of each
	// folder that changes (0 for a hierarchy change) after the change is
	// committed; it is buffered and never blocks the publisher, so a slow
	// reader may see one notification for several changes. cancel releases
	// the subscription; it must be called.
	Subscribe(userID int64, folderIDs []int64) (changes <-chan int64, cancel func())
}
