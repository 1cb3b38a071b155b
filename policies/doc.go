// Package policies holds Airlock's device security policy and device access
// logic: what policy a device is given, and whether it may sync.
//
// It is pure logic: standard library only, no database, no HTTP. The store
// persists its types (they carry JSON tags); the devices package calls
// [Decide]; the activesync package turns [Settings.ProvisionDoc] into the
// Provision response.
//
//   - [Settings] is the EAS security policy, every child of MS-ASPROV's
//     EASProvisionDoc (2.2.2.28) plus the organisation-level
//     AllowNonProvisionableDevices and DevicePolicyRefreshIntervalHours.
//     [DefaultSettings] is the health service's policy; [Settings.Validate]
//     checks ranges; [Settings.ProvisionDoc] renders the elements a given
//     protocol version carries.
//   - [Rule] is an administrator's allow/block/quarantine rule on the device
//     model, type, OS or User-Agent, like Exchange's device access rules.
//   - [Catalogue] records which devices (and mail clients) can encrypt data
//     at rest, and from which OS version.
//   - [Decide] combines an administrator's decision, the rules, the
//     organisation default and the encryption evidence into a [Decision]
//     with a human-readable reason and the evidence it used.
//
// The shipped catalogue (catalogue.json) and rules (default_rules.json) are
// embedded and described, with their sources, in DEVICES.md.
//
// # Implementation notes
//
// Wire order. ProvisionDoc emits elements in the order of their tokens in
// the Provision code page (MS-ASWBXML code page 14, 0x0E–0x38), which is the
// order Exchange uses. Names are the code page's: "AllowWiFi", where
// MS-ASPROV's section heading spells "AllowWifi". Element availability per
// protocol version comes from each element's "Protocol Versions" table in
// MS-ASPROV 2.2.2: 12.0 carries DevicePasswordEnabled,
// AlphanumericDevicePasswordRequired, PasswordRecoveryEnabled,
// AttachmentsEnabled, MinDevicePasswordLength, MaxInactivityTimeDeviceLock,
// MaxDevicePasswordFailedAttempts, MaxAttachmentSize,
// AllowSimpleDevicePassword, DevicePasswordExpiration and
// DevicePasswordHistory; everything else is 12.1+. Protocol 2.5 uses a
// different document (MS-WAP-Provisioning-XML) and gets nothing here.
//
// Empty elements. The "…OrEmpty" elements (MinDevicePasswordLength,
// MaxInactivityTimeDeviceLock, MaxDevicePasswordFailedAttempts,
// MaxAttachmentSize, DevicePasswordExpiration) are *int in Settings; nil is
// sent as an empty element, which the spec defines as "no policy". Empty
// application lists are not sent at all: a present ApprovedApplicationList
// means "run only these applications".
//
// Decision order. An administrator's decision for the device wins outright
// (and is recorded with who and when). Otherwise enabled rules are tried in
// ascending Priority, then ascending ID, and the first match decides; with no
// match the organisation default (quarantine when unset) decides. Evidence
// gates then run and can only make the outcome stricter (allow < quarantine
// < block): an MDM "not compliant" blocks; with RequireDeviceEncryption, a
// catalogued device that cannot encrypt, or runs an OS below the entry's
// EncryptFromOS, is blocked even when it acknowledged the policy, because
// acknowledgements are self-reported and have been wrong (iPhone OS 3.0 on
// pre-3GS iPhones, early Android clients); a catalogued device with an
// encryption floor but no reported OS version is quarantined; a device that
// did not apply the whole policy is blocked unless
// AllowNonProvisionableDevices is set (entries marked RequireFullAck are
// blocked regardless). Every gate that fires, or would have, is written to
// Decision.Evidence.
//
// Unknown devices. A device the catalogue does not recognise is judged by
// the rules, the default and its policy acknowledgement only; the catalogue
// never allows anything by itself. The shipped default is quarantine, so an
// unknown device waits for an administrator.
//
// Before provisioning. A device that has not acknowledged any policy
// (AckNone) is refused with Decision.PendingProvision set, when nothing else
// refuses it. The caller must still let the Provision command through (the
// policy download precedes the acknowledgement, MS-ASPROV 3.2.5.1.1 and
// 3.2.5.1.2) and decide again afterwards; it should not store such a
// decision as a block.
//
// Facts. DeviceInformation (MS-ASCMD 2.2.3.45) is sent with Settings by
// 12.x/14.0 clients and inside the first Provision request by 14.1+
// clients, and not at all by some (old iOS, Windows Phone 7, many Android
// OEM clients). [Enrich] therefore fills Model and OS from the User-Agent
// ([ParseUserAgent]): "Apple-iPhone2C1/801.293" gives model iPhone2,1 and
// iOS 4.0, "Android/2.3.4-EAS-1.2" gives Android 2.3.4. Values the device
// reported win over derived ones. Apple model identifiers are normalised to
// the "iPhone2,1" form whichever separator the device used ("iPhone2C1").
//
// Matching. Exact, prefix and glob patterns ignore case; "re:" patterns are
// Go regular expressions matched as written. Compiled patterns are cached
// in a bounded map.
//
// Versions. [CompareVersions] compares the first dotted number in each
// string ("iOS 4.3.3 8J2" → 4.3.3, "Windows CE 5.2.21234" → 5.2.21234).
package policies
