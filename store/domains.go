package store

import "context"

// HasDomain reports whether any user's primary address or alias is in
// domain (exactly, not a subdomain): the domain is one of the
// organisation's own, and mail from outside may not claim it.
func (s *Store) HasDomain(ctx context.Context, domain string) (bool, error) {
	pattern := "%@" + escapeLike(NormalizeEmail(domain))
	for _, q := range []struct {
		model  any
		column string
	}{{&User{}, "email"}, {&UserAlias{}, "address"}} {
		var ids []int64
		err := s.db.WithContext(ctx).Model(q.model).Where(q.column+` LIKE ? ESCAPE '\'`, pattern).Limit(1).Pluck("id", &ids).Error
		if err != nil {
			return false, wrap(err, "domain "+domain)
		}
		if len(ids) > 0 {
			return true, nil
		}
	}
	return false, nil
}
