package activesync

import (
	"context"

	"airlock/policies"
)

// settings serves MS-ASCMD 2.2.1.18 Settings: DeviceInformation Set (how
// 12.x and 14.0 devices say what they are), UserInformation Get, and Oof
// Get/Set (settings_oof.go). DevicePassword answers status 2 (the spec's
// "protocol error" for an unsupported request) rather than pretend.
func (h *Handler) settings(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "Settings:Settings")
	if req == nil {
		return nil, &Error{HTTP: 400, Status: StatusInvalidContent, Legacy: 400, Reason: "Settings request without Settings element"}
	}
	doc, resp := newDoc("Settings:Settings")
	add(resp, "Settings:Status", "1")
	for _, el := range req.ChildElements() {
		if el.Space != "Settings" {
			continue
		}
		switch el.Tag {
		case "DeviceInformation":
			out := resp.CreateElement("Settings:DeviceInformation")
			set := child(el, "Settings:Set")
			if set == nil {
				add(out, "Settings:Status", "2")
				continue
			}
			if _, err := h.devices.SetDeviceInformation(ctx, r.User, r.Device, deviceInfo(set), policies.InfoFromSettings, clientIP(r.HTTP)); err != nil {
				return nil, err
			}
			add(out, "Settings:Status", "1")
		case "UserInformation":
			out := resp.CreateElement("Settings:UserInformation")
			add(out, "Settings:Status", "1")
			get := out.CreateElement("Settings:Get")
			if r.Version >= V141 {
				// 14.1 wraps addresses in Accounts/Account.
				acct := get.CreateElement("Settings:Accounts").CreateElement("Settings:Account")
				add(acct, "Settings:UserDisplayName", r.User.DisplayName)
				if r.Version >= V160 {
					add(acct, "Settings:PrimarySmtpAddress", r.User.Email)
				}
				add(acct.CreateElement("Settings:EmailAddresses"), "Settings:SMTPAddress", r.User.Email)
			} else {
				add(get.CreateElement("Settings:EmailAddresses"), "Settings:SMTPAddress", r.User.Email)
			}
		case "Oof":
			if err := h.settingsOof(ctx, r, el, resp.CreateElement("Settings:Oof")); err != nil {
				return nil, err
			}
		default:
			out := resp.CreateElement("Settings:" + el.Tag)
			add(out, "Settings:Status", "2")
		}
	}
	return &Response{Doc: doc}, nil
}
