package governance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"airlock/internal/notice"
	"airlock/store"
)

// WarnPercent is the usage at which a user is warned, once per crossing.
const WarnPercent = 90

// ErrBadSize: a size that ParseSize cannot read.
var ErrBadSize = errors.New("governance: bad size")

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10},
	{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// ParseSize reads a quota such as "400MB", "1.5GB", "2048" (bytes) or
// "unlimited" (0). Units are binary, as in Exchange: 1 MB = 1024 KB.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if t == "UNLIMITED" || t == "NONE" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*float64(mult) > float64(store.MaxQuota) {
		return 0, fmt.Errorf("%q (want e.g. 400MB, 2GB or unlimited): %w", s, ErrBadSize)
	}
	return int64(math.Round(f * float64(mult))), nil
}

// FormatSize writes bytes the way ParseSize reads them.
func FormatSize(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	for _, u := range sizeUnits[4:8] { // TB GB MB KB
		if n >= u.mult {
			v := float64(n) / float64(u.mult)
			if v == math.Trunc(v) {
				return fmt.Sprintf("%d%s", int64(v), u.suffix)
			}
			return strconv.FormatFloat(v, 'f', 2, 64) + u.suffix
		}
	}
	return fmt.Sprintf("%dB", n)
}

// AddServiceLevel defines a level, audited.
func (s *Service) AddServiceLevel(ctx context.Context, a Actor, name string, quota int64) (*store.ServiceLevel, error) {
	l, err := s.Store.CreateServiceLevel(ctx, name, quota)
	if err != nil {
		return nil, err
	}
	return l, s.audit(ctx, a, "servicelevel.add", "servicelevel", l.Name, 0, "success", "quota "+FormatSize(quota))
}

// SetServiceLevelQuota changes a level's quota, audited.
func (s *Service) SetServiceLevelQuota(ctx context.Context, a Actor, name string, quota int64) error {
	l, err := s.Store.ServiceLevelByName(ctx, name)
	if err != nil {
		return err
	}
	if err := s.Store.SetServiceLevelQuota(ctx, l.ID, quota); err != nil {
		return err
	}
	return s.audit(ctx, a, "servicelevel.set_quota", "servicelevel", l.Name, 0, "success",
		fmt.Sprintf("quota %s -> %s", FormatSize(l.QuotaBytes), FormatSize(quota)))
}

// ScaleServiceLevels multiplies every limited level's quota by factor at
// once ("double everyone"), audited.
func (s *Service) ScaleServiceLevels(ctx context.Context, a Actor, factor float64) (int64, error) {
	n, err := s.Store.ScaleServiceLevels(ctx, factor)
	if err != nil {
		return 0, err
	}
	return n, s.audit(ctx, a, "servicelevel.scale", "servicelevel", "*", 0, "success", fmt.Sprintf("factor %v, %d levels", factor, n))
}

// AssignServiceLevel puts users on a level ("" for none), audited per
// user.
func (s *Service) AssignServiceLevel(ctx context.Context, a Actor, level string, users []*store.User) error {
	var id *int64
	name := "none"
	if level != "" {
		l, err := s.Store.ServiceLevelByName(ctx, level)
		if err != nil {
			return err
		}
		id, name = &l.ID, l.Name
	}
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	if err := s.Store.AssignServiceLevel(ctx, id, ids); err != nil {
		return err
	}
	for _, u := range users {
		if err := s.audit(ctx, a, "servicelevel.assign", "user", u.Email, u.ID, "success", name); err != nil {
			return err
		}
	}
	return nil
}

// CheckQuota returns a *store.QuotaError (errors.Is store.ErrQuotaExceeded)
// when size more bytes would take the user over their quota. It is the
// early, friendly check; the store transaction that writes the mail checks
// again (store/quota.go), so a race between two deliveries cannot pass it.
func (s *Service) CheckQuota(ctx context.Context, userID, size int64) error {
	q, err := s.Store.QuotaOf(ctx, userID)
	if err != nil {
		return err
	}
	if !q.Fits(size) {
		return &store.QuotaError{UserID: userID, Used: q.Used + size, Limit: q.Limit}
	}
	return nil
}

// QuotaWarnings warns, once per crossing, each user whose mailbox is now at
// WarnPercent or more of their quota, and forgets the warning of those back
// below it. Delivery calls it after every commit that added mail.
func (s *Service) QuotaWarnings(ctx context.Context, userIDs []int64) {
	for _, id := range userIDs {
		if err := s.quotaWarning(ctx, id); err != nil {
			s.log().Error("quota warning", "user_id", id, "err", err)
		}
	}
}

func (s *Service) quotaWarning(ctx context.Context, userID int64) error {
	q, err := s.Store.QuotaOf(ctx, userID)
	if err != nil {
		return err
	}
	if q.Limit <= 0 || q.Percent() < WarnPercent {
		if warned, err := s.Store.QuotaWarned(ctx, userID); err != nil || !warned {
			return err
		}
		return s.Store.UnmarkQuotaWarned(ctx, userID)
	}
	if warned, err := s.Store.QuotaWarned(ctx, userID); err != nil || warned {
		return err
	}
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Your mailbox is at %.0f%% of its quota: %s of %s (service level %q).\n\n"+
		"When it is full, new mail to you is refused and returned to its senders,\n"+
		"and you cannot send. Please delete mail you no longer need, and empty\n"+
		"Deleted Items, or ask your administrator about a larger service level.\n",
		q.Percent(), FormatSize(q.Used), FormatSize(q.Limit), q.Level)
	d, err := notice.Notice{
		Hostname: s.Hostname, To: u, Kind: "quota-warning", Now: s.now(),
		Subject: fmt.Sprintf("Your mailbox is %.0f%% full", math.Floor(q.Percent())), Body: body,
	}.Delivery(ctx, s.Store)
	if err != nil {
		return err
	}
	first, err := s.Store.WarnQuota(ctx, userID, s.now(), *d)
	if err != nil || !first {
		return err
	}
	return s.audit(ctx, Actor{Name: "system"}, "quota.warning", "user", u.Email, u.ID, "success",
		fmt.Sprintf("%s of %s", FormatSize(q.Used), FormatSize(q.Limit)))
}
