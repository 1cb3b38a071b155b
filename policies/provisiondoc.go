package policies

import (
	"strconv"
)

// DocField is one child element of EASProvisionDoc (MS-ASPROV 2.2.2.28), in
// the Provision code page (MS-ASWBXML code page 14).
//
// Value is the element's text as sent on the wire; "" with no Children is
// an empty element. List elements (ApprovedApplicationList,
// UnapprovedInROMApplicationList) have Children and no Value.
type DocField struct {
	Name     string
	Value    string
	Children []DocField
}

// provisionElement describes one EASProvisionDoc child: its code page name,
// the first protocol version that carries it, and how to render its value.
type provisionElement struct {
	name   string
	since  protoVersion
	render func(s *Settings) (DocField, bool) // false: do not send
}

// protoVersion is an EAS protocol version times ten ("12.1" = 121).
type protoVersion int

const (
	proto120 protoVersion = 120
	proto121 protoVersion = 121
)

// parseProtocolVersion reads "12.0", "12.1", "14.0", "14.1", "16.0", "16.1"
// (and any later "major.minor"); it reports false for anything else.
func parseProtocolVersion(v string) (protoVersion, bool) {
	maj, min, ok := cutDot(v)
	if !ok {
		return 0, false
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 || b > 9 || a > 99 {
		return 0, false
	}
	return protoVersion(a*10 + b), true
}

func cutDot(v string) (string, string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			return v[:i], v[i+1:], i > 0 && i < len(v)-1
		}
	}
	return "", "", false
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func boolElem(get func(*Settings) bool) func(*Settings) (DocField, bool) {
	return func(s *Settings) (DocField, bool) {
		return DocField{Value: boolText(get(s))}, true
	}
}

func intElem(get func(*Settings) int) func(*Settings) (DocField, bool) {
	return func(s *Settings) (DocField, bool) {
		return DocField{Value: strconv.Itoa(get(s))}, true
	}
}

// optIntElem renders an "…OrEmpty" element: nil is sent as an empty element.
func optIntElem(get func(*Settings) *int) func(*Settings) (DocField, bool) {
	return func(s *Settings) (DocField, bool) {
		v := get(s)
		if v == nil {
			return DocField{}, true
		}
		return DocField{Value: strconv.Itoa(*v)}, true
	}
}

// listElem renders a container of child elements; an empty list is not
// sent, because a present ApprovedApplicationList means "run only these".
func listElem(child string, get func(*Settings) []string) func(*Settings) (DocField, bool) {
	return func(s *Settings) (DocField, bool) {
		list := get(s)
		if len(list) == 0 {
			return DocField{}, false
		}
		f := DocField{Children: make([]DocField, 0, len(list))}
		for _, v := range list {
			f.Children = append(f.Children, DocField{Name: child, Value: v})
		}
		return f, true
	}
}

// provisionElements lists EASProvisionDoc's children in the order of their
// Provision code page tokens (MS-ASWBXML code page 14, 0x0E–0x38), which is
// the order Exchange sends them in. The versions are those of each element's
// "Protocol Versions" table in MS-ASPROV 2.2.2.
//
// RequireStorageCardEncryption (token 0x10) is 12.1+ in MS-ASPROV 2.2.2.52;
// under Exchange 2007 RTM (12.0) the same token was named
// DeviceEncryptionEnabled. We follow the spec and do not send it to 12.0
// clients.
var provisionElements = []provisionElement{
	{"DevicePasswordEnabled", proto120, boolElem(func(s *Settings) bool { return s.DevicePasswordEnabled })},
	{"AlphanumericDevicePasswordRequired", proto120, boolElem(func(s *Settings) bool { return s.AlphanumericDevicePasswordRequired })},
	{"RequireStorageCardEncryption", proto121, boolElem(func(s *Settings) bool { return s.RequireStorageCardEncryption })},
	{"PasswordRecoveryEnabled", proto120, boolElem(func(s *Settings) bool { return s.PasswordRecoveryEnabled })},
	{"AttachmentsEnabled", proto120, boolElem(func(s *Settings) bool { return s.AttachmentsEnabled })},
	{"MinDevicePasswordLength", proto120, optIntElem(func(s *Settings) *int { return s.MinDevicePasswordLength })},
	{"MaxInactivityTimeDeviceLock", proto120, optIntElem(func(s *Settings) *int { return s.MaxInactivityTimeDeviceLock })},
	{"MaxDevicePasswordFailedAttempts", proto120, optIntElem(func(s *Settings) *int { return s.MaxDevicePasswordFailedAttempts })},
	{"MaxAttachmentSize", proto120, optIntElem(func(s *Settings) *int { return s.MaxAttachmentSize })},
	{"AllowSimpleDevicePassword", proto120, boolElem(func(s *Settings) bool { return s.AllowSimpleDevicePassword })},
	{"DevicePasswordExpiration", proto120, optIntElem(func(s *Settings) *int { return s.DevicePasswordExpiration })},
	{"DevicePasswordHistory", proto120, intElem(func(s *Settings) int { return s.DevicePasswordHistory })},
	{"AllowStorageCard", proto121, boolElem(func(s *Settings) bool { return s.AllowStorageCard })},
	{"AllowCamera", proto121, boolElem(func(s *Settings) bool { return s.AllowCamera })},
	{"RequireDeviceEncryption", proto121, boolElem(func(s *Settings) bool { return s.RequireDeviceEncryption })},
	{"AllowUnsignedApplications", proto121, boolElem(func(s *Settings) bool { return s.AllowUnsignedApplications })},
	{"AllowUnsignedInstallationPackages", proto121, boolElem(func(s *Settings) bool { return s.AllowUnsignedInstallationPackages })},
	{"MinDevicePasswordComplexCharacters", proto121, intElem(func(s *Settings) int { return s.MinDevicePasswordComplexCharacters })},
	{"AllowWiFi", proto121, boolElem(func(s *Settings) bool { return s.AllowWiFi })},
	{"AllowTextMessaging", proto121, boolElem(func(s *Settings) bool { return s.AllowTextMessaging })},
	{"AllowPOPIMAPEmail", proto121, boolElem(func(s *Settings) bool { return s.AllowPOPIMAPEmail })},
	{"AllowBluetooth", proto121, intElem(func(s *Settings) int { return s.AllowBluetooth })},
	{"AllowIrDA", proto121, boolElem(func(s *Settings) bool { return s.AllowIrDA })},
	{"RequireManualSyncWhenRoaming", proto121, boolElem(func(s *Settings) bool { return s.RequireManualSyncWhenRoaming })},
	{"AllowDesktopSync", proto121, boolElem(func(s *Settings) bool { return s.AllowDesktopSync })},
	{"MaxCalendarAgeFilter", proto121, intElem(func(s *Settings) int { return s.MaxCalendarAgeFilter })},
	{"AllowHTMLEmail", proto121, boolElem(func(s *Settings) bool { return s.AllowHTMLEmail })},
	{"MaxEmailAgeFilter", proto121, intElem(func(s *Settings) int { return s.MaxEmailAgeFilter })},
	{"MaxEmailBodyTruncationSize", proto121, intElem(func(s *Settings) int { return s.MaxEmailBodyTruncationSize })},
	{"MaxEmailHTMLBodyTruncationSize", proto121, intElem(func(s *Settings) int { return s.MaxEmailHTMLBodyTruncationSize })},
	{"RequireSignedSMIMEMessages", proto121, boolElem(func(s *Settings) bool { return s.RequireSignedSMIMEMessages })},
	{"RequireEncryptedSMIMEMessages", proto121, boolElem(func(s *Settings) bool { return s.RequireEncryptedSMIMEMessages })},
	{"RequireSignedSMIMEAlgorithm", proto121, intElem(func(s *Settings) int { return s.RequireSignedSMIMEAlgorithm })},
	{"RequireEncryptionSMIMEAlgorithm", proto121, intElem(func(s *Settings) int { return s.RequireEncryptionSMIMEAlgorithm })},
	{"AllowSMIMEEncryptionAlgorithmNegotiation", proto121, intElem(func(s *Settings) int { return s.AllowSMIMEEncryptionAlgorithmNegotiation })},
	{"AllowSMIMESoftCerts", proto121, boolElem(func(s *Settings) bool { return s.AllowSMIMESoftCerts })},
	{"AllowBrowser", proto121, boolElem(func(s *Settings) bool { return s.AllowBrowser })},
	{"AllowConsumerEmail", proto121, boolElem(func(s *Settings) bool { return s.AllowConsumerEmail })},
	{"AllowRemoteDesktop", proto121, boolElem(func(s *Settings) bool { return s.AllowRemoteDesktop })},
	{"AllowInternetSharing", proto121, boolElem(func(s *Settings) bool { return s.AllowInternetSharing })},
	{"UnapprovedInROMApplicationList", proto121, listElem("ApplicationName", func(s *Settings) []string { return s.UnapprovedInROMApplicationList })},
	{"ApprovedApplicationList", proto121, listElem("Hash", func(s *Settings) []string { return s.ApprovedApplicationList })},
}

// ProvisionElementNames returns the names of every EASProvisionDoc child
// this package can send, in wire order.
func ProvisionElementNames() []string {
	out := make([]string, len(provisionElements))
	for i, e := range provisionElements {
		out[i] = e.name
	}
	return out
}

// ProvisionDoc returns the EASProvisionDoc children (MS-ASPROV 2.2.2.28) to
// send to a client speaking protocolVersion, in wire order. Elements the
// version does not carry are left out: 12.0 gets the password, attachment
// and recovery settings only; 12.1 and later get everything.
//
// Protocol version 2.5 uses a different policy format
// (MS-WAP-Provisioning-XML, MS-ASPROV 2.2.2.24.2) and unparseable versions
// are unknown; for both ProvisionDoc returns nil. The organisation-level
// settings are never sent.
func (s Settings) ProvisionDoc(protocolVersion string) []DocField {
	v, ok := parseProtocolVersion(protocolVersion)
	if !ok || v < proto120 {
		return nil
	}
	out := make([]DocField, 0, len(provisionElements))
	for _, e := range provisionElements {
		if v < e.since {
			continue
		}
		if f, send := e.render(&s); send {
			f.Name = e.name
			out = append(out, f)
		}
	}
	return out
}
