package web

import "airlock/policies"

// A setup family is one kind of device and mail client with its own guide.
// Steps use placeholders filled (and HTML-escaped) per reader: {host} this
// server, {email} the address, {user} its local part, {domain} its domain.
//
// The model choices feed policies.Decide as if the device had applied the
// whole policy (acknowledgement 1), so people can see before they try
// whether their phone will be allowed. Their strings come from
// policies/DEVICES.md; where that file marks them as assumed, so does the
// note here.
type family struct {
	Slug     string
	Name     string
	Platform string
	Summary  string
	Steps    []string
	// Encryption explains how to switch on encryption at rest.
	Encryption []string
	Notes      []string
	Models     []modelChoice
	// Profile: an iOS configuration profile is offered.
	Profile bool
}

type modelChoice struct {
	Key   string
	Label string
	Facts policies.DeviceFacts
}

var families = []family{
	{
		Slug: "ios", Name: "iPhone and iPad", Platform: "iOS Mail",
		Summary: "The Mail, Calendar and Contacts apps built into iOS and iPadOS.",
		Profile: true,
		Steps: []string{
			"Quickest: on the phone, open this page and tap “Download the profile” below, then open Settings → Profile Downloaded → Install, and type your password when asked.",
			"Or by hand: open Settings → Mail → Accounts → Add Account → Microsoft Exchange.",
			"Email: {email}. Description: anything you like, for example “Work”. Tap Next, then Configure Manually.",
			"Server: {host}. Domain: leave empty. Username: {email}. Password: your password.",
			"Tap Next, choose Mail, Contacts and Calendars, and Save.",
			"When the phone asks to let the server manage a passcode, accept: the account cannot sync without it.",
		},
		Encryption: []string{
			"Set a passcode: Settings → Face ID & Passcode (or Touch ID & Passcode, or Passcode on older models) → Turn Passcode On.",
			"At the bottom of that screen iOS should say “Data protection is enabled”. Mail is then encrypted whenever the phone is locked.",
			"iPhone 3GS and later can encrypt; the original iPhone and the iPhone 3G cannot and are refused.",
		},
		Models: []modelChoice{
			{"iphone-modern", "iPhone 4 or later (iOS 7 or newer)", policies.DeviceFacts{DeviceType: "iPhone", Model: "iPhone3,1", OS: "iOS 7.0.4 11B554a", UserAgent: "Apple-iPhone3C1/1102.55400001", ProtocolVersion: "14.1"}},
			{"iphone-3gs", "iPhone 3GS (iOS 5)", policies.DeviceFacts{DeviceType: "iPhone", Model: "iPhone2,1", OS: "iOS 5.0", UserAgent: "Apple-iPhone2C1/901.334", ProtocolVersion: "14.0"}},
			{"iphone-3g", "iPhone 3G (iOS 4.2.1)", policies.DeviceFacts{DeviceType: "iPhone", Model: "iPhone1,2", OS: "iOS 4.2.1", UserAgent: "Apple-iPhone1C2/803.148", ProtocolVersion: "14.0"}},
			{"iphone-2g", "Original iPhone (iPhone OS 3.1.3)", policies.DeviceFacts{DeviceType: "iPhone", Model: "iPhone1,1", OS: "iPhone OS 3.1.3", UserAgent: "Apple-iPhone/705.18", ProtocolVersion: "12.1"}},
			{"ipad", "iPad (any)", policies.DeviceFacts{DeviceType: "iPad", Model: "iPad3,4", OS: "iOS 7.0.2 11A501", UserAgent: "iOS/7.0.2 (11A501) dataaccessd/1.0", ProtocolVersion: "14.1"}},
			{"ipod", "iPod touch", policies.DeviceFacts{DeviceType: "iPod", Model: "iPod5,1", OS: "iOS 7.0.4", UserAgent: "Apple-iPod5C1/1102.55400001", ProtocolVersion: "14.1"}},
		},
	},
	{
		Slug: "android-gmail", Name: "Android", Platform: "Gmail or the Email app",
		Summary: "Android's own mail app (Gmail on current phones, “Email” on older ones, Samsung Email on Samsung phones).",
		Steps: []string{
			"Open Gmail → Settings → Add account → Exchange and Office 365 (older phones: Settings → Accounts → Add account → Corporate or Exchange).",
			"Email: {email}. Tap Manual setup, choose Exchange, and type your password.",
			"Server: {host}. Port: 443. Security type: SSL/TLS. Username: {email} (some phones ask for Domain\\Username: use {domain}\\{user}).",
			"When asked to allow remote security administration, accept (Activate this device admin app). The account cannot sync without it.",
		},
		Encryption: []string{
			"Android 10 and newer: storage is encrypted as soon as a screen lock is set. Settings → Security → Screen lock → PIN or Password.",
			"Android 5 to 9: set a PIN or password, then Settings → Security → Encrypt phone. Keep the phone charging; it takes up to an hour.",
			"Android 3.0 to 4.4: Settings → Security → Encrypt device, after setting a PIN or password.",
			"Android 2.x cannot encrypt and is refused; NitroDesk TouchDown can be used there instead, because it encrypts its own storage.",
		},
		Models: []modelChoice{
			{"android-modern", "Android 10 or newer (Gmail)", policies.DeviceFacts{DeviceType: "Android", Model: "Pixel 6", OS: "Android 12", UserAgent: "Android-Mail/2022.01.09.420000000.Release", ProtocolVersion: "16.1"}},
			{"android-404", "Android 4.0.4 (Email app)", policies.DeviceFacts{DeviceType: "Android", OS: "Android 4.0.4", UserAgent: "Android/4.0.4-EAS-1.3", ProtocolVersion: "14.0"}},
			{"android-234", "Android 2.3 (Email app)", policies.DeviceFacts{DeviceType: "Android", OS: "Android 2.3.4", UserAgent: "Android/2.3.4-EAS-1.2", ProtocolVersion: "12.1"}},
			{"samsung-i9000", "Samsung Galaxy S (GT-I9000, Android 2.3)", policies.DeviceFacts{DeviceType: "SAMSUNGGTI9000", Model: "GT-I9000", UserAgent: "SAMSUNG-GT-I9000/100.20304", ProtocolVersion: "12.1"}},
			{"samsung-p7510", "Samsung Galaxy Tab 10.1 (GT-P7510, Android 3.1)", policies.DeviceFacts{DeviceType: "SAMSUNGGTP7510", Model: "GT-P7510", UserAgent: "SAMSUNG-GT-P7510/100.301", ProtocolVersion: "14.0"}},
			{"touchdown", "NitroDesk TouchDown on any Android", policies.DeviceFacts{DeviceType: "Android", OS: "Android 2.3.4", UserAgent: "TouchDown(MSRPC)/7.1.0005", ProtocolVersion: "14.0"}},
		},
	},
	{
		Slug: "android-outlook", Name: "Outlook for Android and iOS", Platform: "Microsoft Outlook app",
		Summary: "Microsoft's Outlook app. It syncs through Microsoft's cloud service, which connects to this server for you.",
		Steps: []string{
			"Open Outlook → Add account → type {email} → Continue.",
			"If Outlook does not find the settings, choose Exchange and turn on Advanced settings.",
			"Server: {host}. Domain\\Username: {domain}\\{user} or {email}. Password: your password.",
			"Accept the request to manage device security.",
		},
		Encryption: []string{
			"Outlook relies on the phone's own encryption: set a screen lock (PIN, password or passcode). On Android 10+ and every supported iPhone that encrypts the phone.",
			"Outlook honours only a few of the security settings (encryption, password, minimum length on Android, Bluetooth); the rest are ignored by the app.",
		},
		Notes: []string{"Outlook mobile reaches this server from Microsoft's data centres, so the server must be reachable from the internet."},
		Models: []modelChoice{
			{"outlook-mobile", "Outlook for Android or iOS", policies.DeviceFacts{DeviceType: "Outlook", UserAgent: "Outlook-iOS-Android/1.0", ProtocolVersion: "16.1"}},
		},
	},
	{
		Slug: "nine", Name: "Nine", Platform: "Nine for Android",
		Summary: "Nine, an Exchange mail app for Android.",
		Steps: []string{
			"Open Nine → Add account → Exchange.",
			"Email: {email}. Password: your password. Tap Manual setup.",
			"Server: {host}. Domain: {domain}. Username: {user}. Use SSL: on. Port: 443.",
			"Accept the device administrator request so Nine can apply the security policy.",
		},
		Encryption: []string{
			"Nine keeps your mail on the phone's storage, so switch on the phone's encryption: Android 10+ encrypts once a screen lock is set (Settings → Security → Screen lock); Android 5–9: Settings → Security → Encrypt phone.",
		},
		Notes: []string{"Nine's own device strings have not been verified here; the verdict below treats it as an Android device."},
		Models: []modelChoice{
			{"nine-android", "Nine on Android 8 or newer", policies.DeviceFacts{DeviceType: "Android", OS: "Android 8.1.0", UserAgent: "Nine/4.9.4", ProtocolVersion: "14.1"}},
		},
	},
	{
		Slug: "nokia", Name: "Nokia E-series", Platform: "Mail for Exchange",
		Summary: "Nokia E52, E55, E63, E66, E71, E72, E75, E5 and E7 with Nokia's Mail for Exchange.",
		Steps: []string{
			"Open Menu → Email → New mailbox → Mail for Exchange (or Menu → Office → Mail for Exch.).",
			"Email address: {email}. Server: {host}. Secure connection: Yes. Port: 443.",
			"Domain: {domain}. Username: {user}. Password: your password.",
			"Choose what to sync (email, calendar, contacts), then Sync now.",
		},
		Encryption: []string{
			"Switch encryption on before syncing: Menu → Control panel (Ctrl. panel) → Phone management → Security → Encryption, and encrypt both the phone memory and the memory card.",
			"The phone is allowed only if it applies the whole security policy; with encryption off it is refused.",
		},
		Models: []modelChoice{
			{"nokia-e72", "Nokia E72", policies.DeviceFacts{DeviceType: "NokiaEmail", UserAgent: "NokiaE721/2.02(0)MailforExchange 3gpp-gba", ProtocolVersion: "12.1"}},
			{"nokia-e71", "Nokia E71", policies.DeviceFacts{DeviceType: "NokiaEmail", UserAgent: "NokiaE71/3.00(50)MailforExchange", ProtocolVersion: "12.1"}},
			{"nokia-e52", "Nokia E52", policies.DeviceFacts{DeviceType: "NokiaEmail", UserAgent: "NokiaE521/2.00()MailforExchange", ProtocolVersion: "12.1"}},
			{"nokia-e7", "Nokia E7 (strings assumed)", policies.DeviceFacts{DeviceType: "NokiaEmail", UserAgent: "NokiaE7-00/3.00(0)MailforExchange", ProtocolVersion: "12.1"}},
		},
	},
	{
		Slug: "windows-mobile", Name: "Windows Mobile 6.x", Platform: "ActiveSync on the phone",
		Summary: "Windows Mobile 6.1 and 6.5 phones (Pocket PC and Standard).",
		Steps: []string{
			"Open Start → Programs → ActiveSync → Menu → Add Server Source (or Configure Server).",
			"Email address: {email}. Untick “Attempt to detect Exchange Server Settings automatically” if it cannot find them.",
			"Server address: {host}, and tick “This server requires an encrypted (SSL) connection”.",
			"User name: {user}. Domain: {domain}. Password: your password, and tick Save password.",
			"Choose what to sync and tap Finish.",
		},
		Encryption: []string{
			"Windows Mobile 6.1 and 6.5 encrypt the device when the policy asks; also switch on card encryption: Start → Settings → System → Encryption → Encrypt files placed on storage cards.",
			"Windows Mobile 6.0 and earlier are refused.",
		},
		Models: []modelChoice{
			{"wm65-ppc", "Windows Mobile 6.5 (Pocket PC)", policies.DeviceFacts{DeviceType: "PocketPC", OS: "Windows CE 5.2.21234", UserAgent: "MSFT-PPC/5.2.5082", ProtocolVersion: "12.1"}},
			{"wm65-sp", "Windows Mobile 6.5 (Standard)", policies.DeviceFacts{DeviceType: "SmartPhone", OS: "Windows CE 5.2.23090", UserAgent: "MSFT-SPhone/5.2.1603", ProtocolVersion: "12.1"}},
			{"wm60", "Windows Mobile 6.0", policies.DeviceFacts{DeviceType: "PocketPC", OS: "Windows CE 5.2.1620", UserAgent: "MSFT-PPC/5.2.1607", ProtocolVersion: "12.0"}},
			{"wm-unknown", "Windows Mobile that does not report its version", policies.DeviceFacts{DeviceType: "PocketPC", UserAgent: "MSFT-PPC/5.2.5082", ProtocolVersion: "12.1"}},
			{"wp7", "Windows Phone 7", policies.DeviceFacts{DeviceType: "WP", UserAgent: "MSFT-WP/7.10.7720", ProtocolVersion: "14.0"}},
		},
	},
	{
		Slug: "blackberry", Name: "BlackBerry", Platform: "AstraSync or NotifySync",
		Summary: "BlackBerry OS phones, through the AstraSync or NotifySync apps (BlackBerry OS has no Exchange ActiveSync of its own).",
		Steps: []string{
			"Install AstraSync or NotifySync from its vendor and open it.",
			"Email: {email}. Server: {host}. Use SSL: yes.",
			"Domain: {domain}. Username: {user}. Password: your password.",
			"Accept the security policy when the app asks.",
		},
		Encryption: []string{
			"Set a device password, then switch on content protection: Options → Security → Encryption (older models: Options → Security Options → General Settings → Content Protection → Enabled). Encrypt the media card too.",
			"The phone is allowed only if the app applies the whole security policy.",
		},
		Notes: []string{"AstraSync and NotifySync identify themselves by name in their User-Agent; no sample was available to confirm the exact strings.", "BlackBerry 10's own mail app waits for an administrator: use AstraSync or NotifySync, or ask for approval."},
		Models: []modelChoice{
			{"astrasync", "BlackBerry with AstraSync (strings assumed)", policies.DeviceFacts{DeviceType: "BlackBerry", UserAgent: "AstraSync/3.0.22", ProtocolVersion: "12.1"}},
			{"notifysync", "BlackBerry with NotifySync (strings assumed)", policies.DeviceFacts{DeviceType: "BlackBerry", UserAgent: "NotifySync/4.0", ProtocolVersion: "12.1"}},
			{"bb10", "BlackBerry 10 (built-in mail)", policies.DeviceFacts{DeviceType: "BlackBerry", Model: "Q10-SQN100-3", UserAgent: "RIM-Q10-SQN100-3/10.2.0.1443", ProtocolVersion: "14.1"}},
		},
	},
	{
		Slug: "outlook-desktop", Name: "Outlook for Windows", Platform: "Outlook 2013 or later",
		Summary: "Outlook on a Windows computer, connected with Exchange ActiveSync.",
		Steps: []string{
			"Open Outlook → File → Add Account → Manual setup or additional server types → Exchange ActiveSync.",
			"Your name, and email: {email}.",
			"Mail server: {host}. User name: {email}. Password: your password.",
			"Click Next; Outlook tests the account and adds it.",
		},
		Encryption: []string{
			"Outlook keeps a copy of your mail on the computer: switch on BitLocker (Control Panel → BitLocker Drive Encryption → Turn on) or Windows device encryption (Settings → Privacy & security → Device encryption).",
		},
		Notes: []string{"Outlook for Windows does not apply Exchange ActiveSync security policies, so it is allowed only if the organisation accepts devices that cannot be provisioned. Ask your administrator."},
		Models: []modelChoice{
			{"outlook-2016", "Outlook 2016 or later", policies.DeviceFacts{DeviceType: "WindowsOutlook15", UserAgent: "Outlook/16.0 (16.0.4266.1001; MSI; x64)", ProtocolVersion: "14.0"}},
		},
	},
}

func familyBySlug(slug string) (*family, bool) {
	for i := range families {
		if families[i].Slug == slug {
			return &families[i], true
		}
	}
	return nil, false
}
