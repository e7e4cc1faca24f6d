//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registries used on the wire.
//!
//! Transform types and IDs live in [`ipsec_core::crypto`]; these are the rest. Unknown values
//! round-trip unchanged and print as numbers.

ipsec_core::iana_registry! {
    /// Exchange type (RFC 7296 section 3.1).
    pub struct ExchangeType(u8) {
        /// IKE_SA_INIT.
        IKE_SA_INIT = 34,
        /// IKE_AUTH.
        IKE_AUTH = 35,
        /// CREATE_CHILD_SA.
        CREATE_CHILD_SA = 36,
        /// INFORMATIONAL.
        INFORMATIONAL = 37,
        /// IKE_SESSION_RESUME (RFC 5723).
        IKE_SESSION_RESUME = 38,
        /// IKE_INTERMEDIATE (RFC 9242).
        IKE_INTERMEDIATE = 43,
        /// IKE_FOLLOWUP_KE (RFC 9370).
        IKE_FOLLOWUP_KE = 44,
    }
}

ipsec_core::iana_registry! {
    /// Payload type, the "Next Payload" values (RFC 7296 section 3.2).
    pub struct PayloadType(u8) {
        /// No next payload: the end of a chain.
        NONE = 0,
        /// Security Association (SA).
        SA = 33,
        /// Key Exchange (KE).
        KE = 34,
        /// Identification - Initiator (IDi).
        IDI = 35,
        /// Identification - Responder (IDr).
        IDR = 36,
        /// Certificate (CERT).
        CERT = 37,
        /// Certificate Request (CERTREQ).
        CERTREQ = 38,
        /// Authentication (AUTH).
        AUTH = 39,
        /// Nonce (Ni, Nr).
        NONCE = 40,
        /// Notify (N).
        NOTIFY = 41,
        /// Delete (D).
        DELETE = 42,
        /// Vendor ID (V).
        VENDOR_ID = 43,
        /// Traffic Selector - Initiator (TSi).
        TSI = 44,
        /// Traffic Selector - Responder (TSr).
        TSR = 45,
        /// Encrypted and Authenticated (SK).
        SK = 46,
        /// Configuration (CP).
        CP = 47,
        /// Extensible Authentication (EAP).
        EAP = 48,
        /// Generic Secure Password Methods (GSPM, RFC 6467).
        GSPM = 49,
        /// Encrypted and Authenticated Fragment (SKF, RFC 7383).
        SKF = 53,
    }
}

ipsec_core::iana_registry! {
    /// Notify message type (RFC 7296 section 3.10.1): error types below 16384, status types above.
    pub struct NotifyType(u16) {
        /// A critical payload was not understood.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        /// The IKE SPI is not known.
        INVALID_IKE_SPI = 4,
        /// The major version is not supported.
        INVALID_MAJOR_VERSION = 5,
        /// The message is malformed.
        INVALID_SYNTAX = 7,
        /// The message ID is outside the window.
        INVALID_MESSAGE_ID = 9,
        /// An IPsec SPI is not known.
        INVALID_SPI = 11,
        /// None of the proposals is acceptable.
        NO_PROPOSAL_CHOSEN = 14,
        /// The KE payload's group is not the one expected; the data names the wanted group.
        INVALID_KE_PAYLOAD = 17,
        /// Authentication failed.
        AUTHENTICATION_FAILED = 24,
        /// Only a single pair of selectors is accepted.
        SINGLE_PAIR_REQUIRED = 34,
        /// No more Child SAs are accepted.
        NO_ADDITIONAL_SAS = 35,
        /// No internal address could be assigned.
        INTERNAL_ADDRESS_FAILURE = 36,
        /// A CP payload was required.
        FAILED_CP_REQUIRED = 37,
        /// The traffic selectors are not acceptable.
        TS_UNACCEPTABLE = 38,
        /// A packet did not match the SA's selectors.
        INVALID_SELECTORS = 39,
        /// The addresses are not acceptable (RFC 4555).
        UNACCEPTABLE_ADDRESSES = 40,
        /// A NAT was detected where none is allowed (RFC 4555).
        UNEXPECTED_NAT_DETECTED = 41,
        /// Use the assigned home address (RFC 5026).
        USE_ASSIGNED_HOA = 42,
        /// Try again later (RFC 7296 section 2.25).
        TEMPORARY_FAILURE = 43,
        /// The Child SA does not exist (RFC 7296 section 2.25).
        CHILD_SA_NOT_FOUND = 44,
        /// Invalid group ID (RFC 6407 extension).
        INVALID_GROUP_ID = 45,
        /// Authorization failed.
        AUTHORIZATION_FAILED = 46,
        /// State not found (RFC 9242 era).
        STATE_NOT_FOUND = 47,
        /// First contact: delete old SAs with this peer.
        INITIAL_CONTACT = 16384,
        /// Window size for concurrent requests.
        SET_WINDOW_SIZE = 16385,
        /// More selectors could have been accepted.
        ADDITIONAL_TS_POSSIBLE = 16386,
        /// IPComp is supported.
        IPCOMP_SUPPORTED = 16387,
        /// NAT detection hash of the source address and port.
        NAT_DETECTION_SOURCE_IP = 16388,
        /// NAT detection hash of the destination address and port.
        NAT_DETECTION_DESTINATION_IP = 16389,
        /// A stateless cookie (RFC 7296 section 2.6).
        COOKIE = 16390,
        /// Transport mode is requested.
        USE_TRANSPORT_MODE = 16391,
        /// Certificates can be fetched by URL.
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        /// This CREATE_CHILD_SA rekeys the SA with the given SPI.
        REKEY_SA = 16393,
        /// TFC padding is not supported.
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        /// Non-first fragments are sent too.
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// MOBIKE is supported (RFC 4555).
        MOBIKE_SUPPORTED = 16396,
        /// An additional IPv4 address (RFC 4555).
        ADDITIONAL_IP4_ADDRESS = 16397,
        /// An additional IPv6 address (RFC 4555).
        ADDITIONAL_IP6_ADDRESS = 16398,
        /// No additional addresses (RFC 4555).
        NO_ADDITIONAL_ADDRESSES = 16399,
        /// Update the SA's addresses (RFC 4555).
        UPDATE_SA_ADDRESSES = 16400,
        /// Return-routability cookie (RFC 4555).
        COOKIE2 = 16401,
        /// NAT is not allowed (RFC 4555).
        NO_NATS_ALLOWED = 16402,
        /// Authentication lifetime (RFC 4478).
        AUTH_LIFETIME = 16403,
        /// Multiple authentication rounds are supported (RFC 4739).
        MULTIPLE_AUTH_SUPPORTED = 16404,
        /// Another authentication round follows (RFC 4739).
        ANOTHER_AUTH_FOLLOWS = 16405,
        /// Redirection is supported (RFC 5685).
        REDIRECT_SUPPORTED = 16406,
        /// Redirect to another gateway (RFC 5685).
        REDIRECT = 16407,
        /// Redirected from another gateway (RFC 5685).
        REDIRECTED_FROM = 16408,
        /// Session resumption ticket lifetime (RFC 5723).
        TICKET_LT_OPAQUE = 16409,
        /// Ticket request (RFC 5723).
        TICKET_REQUEST = 16410,
        /// Ticket acknowledged (RFC 5723).
        TICKET_ACK = 16411,
        /// Ticket refused (RFC 5723).
        TICKET_NACK = 16412,
        /// Opaque ticket (RFC 5723).
        TICKET_OPAQUE = 16413,
        /// Link ID (RFC 5739).
        LINK_ID = 16414,
        /// Use wrapped ESP (RFC 5840).
        USE_WESP_MODE = 16415,
        /// Robust header compression is supported (RFC 5857).
        ROHC_SUPPORTED = 16416,
        /// EAP-only authentication (RFC 5998).
        EAP_ONLY_AUTHENTICATION = 16417,
        /// IKE SA without a Child SA is supported (RFC 6023).
        CHILDLESS_IKEV2_SUPPORTED = 16418,
        /// Quick crash detection (RFC 6290).
        QUICK_CRASH_DETECTION = 16419,
        /// Message ID synchronisation is supported (RFC 6311).
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        /// Replay counter synchronisation is supported (RFC 6311).
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        /// Message ID synchronisation (RFC 6311).
        IKEV2_MESSAGE_ID_SYNC = 16422,
        /// Replay counter synchronisation (RFC 6311).
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        /// Secure password methods (RFC 6467).
        SECURE_PASSWORD_METHODS = 16424,
        /// PSK persistence (RFC 6631).
        PSK_PERSIST = 16425,
        /// PSK confirmation (RFC 6631).
        PSK_CONFIRM = 16426,
        /// EAP re-authentication is supported (RFC 6867).
        ERX_SUPPORTED = 16427,
        /// IFOM capability (RFC 6709 era).
        IFOM_CAPABILITY = 16428,
        /// Sender request ID (RFC 7296 group key extension).
        SENDER_REQUEST_ID = 16429,
        /// IKE fragmentation is supported (RFC 7383).
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// Hash algorithms for signatures (RFC 7427).
        SIGNATURE_HASH_ALGORITHMS = 16431,
        /// IKE SA cloning is supported (RFC 7791).
        CLONE_IKE_SA_SUPPORTED = 16432,
        /// Clone this IKE SA (RFC 7791).
        CLONE_IKE_SA = 16433,
        /// Client puzzle (RFC 8019).
        PUZZLE = 16434,
        /// Use a post-quantum preshared key (RFC 8784).
        USE_PPK = 16435,
        /// PPK identity (RFC 8784).
        PPK_IDENTITY = 16436,
        /// No PPK authentication (RFC 8784).
        NO_PPK_AUTH = 16437,
        /// IKE_INTERMEDIATE is supported (RFC 9242).
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
        /// IPv4 is allowed (RFC 8983).
        IP4_ALLOWED = 16439,
        /// IPv6 is allowed (RFC 8983).
        IP6_ALLOWED = 16440,
        /// Additional key exchange (RFC 9370).
        ADDITIONAL_KEY_EXCHANGE = 16441,
        /// Use aggregation and fragmentation mode (RFC 9347).
        USE_AGGFRAG = 16442,
    }
}

impl NotifyType {
    /// True for error types (below 16384, RFC 7296 section 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

ipsec_core::iana_registry! {
    /// Identification type (RFC 7296 section 3.5).
    pub struct IdType(u8) {
        /// A single IPv4 address (4 bytes).
        IPV4_ADDR = 1,
        /// A fully-qualified domain name (no terminator).
        FQDN = 2,
        /// An RFC 822 email address.
        RFC822_ADDR = 3,
        /// A single IPv6 address (16 bytes).
        IPV6_ADDR = 5,
        /// A DER-encoded X.500 distinguished name.
        DER_ASN1_DN = 9,
        /// A DER-encoded X.509 GeneralName.
        DER_ASN1_GN = 10,
        /// An opaque octet string.
        KEY_ID = 11,
        /// Fibre Channel name (RFC 4595).
        FC_NAME = 12,
        /// No identity (RFC 7619).
        NULL = 13,
    }
}

ipsec_core::iana_registry! {
    /// Authentication method (RFC 7296 section 3.8).
    pub struct AuthMethod(u8) {
        /// RSA digital signature (PKCS#1 v1.5, SHA-1).
        RSA_SIG = 1,
        /// Shared key message integrity code.
        SHARED_KEY_MIC = 2,
        /// DSS digital signature.
        DSS_SIG = 3,
        /// ECDSA with SHA-256 on P-256 (RFC 4754).
        ECDSA_SHA256_P256 = 9,
        /// ECDSA with SHA-384 on P-384 (RFC 4754).
        ECDSA_SHA384_P384 = 10,
        /// ECDSA with SHA-512 on P-521 (RFC 4754).
        ECDSA_SHA512_P521 = 11,
        /// Generic secure password authentication (RFC 6467).
        GSPAM = 12,
        /// NULL authentication (RFC 7619).
        NULL = 13,
        /// Digital signature with an algorithm identifier (RFC 7427).
        DIGITAL_SIGNATURE = 14,
    }
}

ipsec_core::iana_registry! {
    /// Security protocol ID (RFC 7296 section 3.3.1).
    pub struct ProtocolId(u8) {
        /// No protocol (notifications not about an SA).
        NONE = 0,
        /// IKE.
        IKE = 1,
        /// AH.
        AH = 2,
        /// ESP.
        ESP = 3,
    }
}

ipsec_core::iana_registry! {
    /// Certificate encoding (RFC 7296 section 3.6).
    pub struct CertEncoding(u8) {
        /// PKCS #7 wrapped X.509 certificate.
        PKCS7_X509 = 1,
        /// PGP certificate.
        PGP = 2,
        /// DNS signed key.
        DNS_SIGNED_KEY = 3,
        /// X.509 certificate, signature.
        X509_SIGNATURE = 4,
        /// Kerberos token.
        KERBEROS = 6,
        /// Certificate revocation list.
        CRL = 7,
        /// Authority revocation list.
        ARL = 8,
        /// SPKI certificate.
        SPKI = 9,
        /// X.509 certificate, attribute.
        X509_ATTRIBUTE = 10,
        /// Raw RSA key (deprecated).
        RAW_RSA_KEY = 11,
        /// Hash and URL of an X.509 certificate.
        HASH_URL_X509_CERT = 12,
        /// Hash and URL of an X.509 bundle.
        HASH_URL_X509_BUNDLE = 13,
        /// OCSP content (RFC 4806).
        OCSP_CONTENT = 14,
        /// Raw public key (RFC 7670).
        RAW_PUBLIC_KEY = 15,
    }
}

ipsec_core::iana_registry! {
    /// Traffic selector type (RFC 7296 section 3.13.1).
    pub struct TsType(u8) {
        /// IPv4 address range.
        TS_IPV4_ADDR_RANGE = 7,
        /// IPv6 address range.
        TS_IPV6_ADDR_RANGE = 8,
        /// Fibre Channel address range (RFC 4595).
        TS_FC_ADDR_RANGE = 9,
        /// Security label (RFC 9478).
        TS_SECLABEL = 10,
    }
}

ipsec_core::iana_registry! {
    /// Configuration payload type (RFC 7296 section 3.15).
    pub struct CfgType(u8) {
        /// Request.
        CFG_REQUEST = 1,
        /// Reply.
        CFG_REPLY = 2,
        /// Set.
        CFG_SET = 3,
        /// Acknowledge.
        CFG_ACK = 4,
    }
}

ipsec_core::iana_registry! {
    /// Configuration attribute type (RFC 7296 section 3.15.1).
    pub struct ConfigAttributeType(u16) {
        /// Internal IPv4 address.
        INTERNAL_IP4_ADDRESS = 1,
        /// Internal IPv4 netmask.
        INTERNAL_IP4_NETMASK = 2,
        /// Internal IPv4 DNS server.
        INTERNAL_IP4_DNS = 3,
        /// Internal IPv4 NetBIOS name server.
        INTERNAL_IP4_NBNS = 4,
        /// Internal IPv4 DHCP server.
        INTERNAL_IP4_DHCP = 6,
        /// Application version string.
        APPLICATION_VERSION = 7,
        /// Internal IPv6 address and prefix length.
        INTERNAL_IP6_ADDRESS = 8,
        /// Internal IPv6 DNS server.
        INTERNAL_IP6_DNS = 10,
        /// Internal IPv6 DHCP server.
        INTERNAL_IP6_DHCP = 12,
        /// Protected IPv4 subnet.
        INTERNAL_IP4_SUBNET = 13,
        /// Supported attribute types.
        SUPPORTED_ATTRIBUTES = 14,
        /// Protected IPv6 subnet.
        INTERNAL_IP6_SUBNET = 15,
    }
}
