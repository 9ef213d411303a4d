package locker

import bolt "go.etcd.io/bbolt"

// pagesWritten is the number of page writes bbolt has made in db's committed
// transactions (dirty pages, the freelist and the meta page of each commit).
func pagesWritten(db *bolt.DB) int64 {
	st := db.Stats()
	return st.TxStats.GetWrite()
}
