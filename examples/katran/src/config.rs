//! The balancer's configuration as `katran-ctl` reads it: one directive a line, `#`
//! starts a comment.
//!
//! ```text
//! gateway-mac 02:00:00:00:00:01            # where encapsulated packets go (ctl_array[0])
//! vip 10.0.0.10 80 tcp                     # a VIP: address, port (0: any), tcp|udp
//! vip 10.0.0.11 0 udp flags=hash-no-src-port,lru-bypass hash=maglev-v2
//! real 10.0.0.10 80 tcp 192.168.1.2 weight=2   # a real of a VIP (weight 1 by default)
//! watch-lru-misses 10.0.0.10 80 tcp        # count this VIP's misses per real
//! ```
//!
//! VIP flags: `hash-no-src-port`, `lru-bypass`, `hash-dport-only`, `hash-src-dst-port`,
//! `udp-flow-migration`, or a number. Rings: `maglev` (Katran's default) or `maglev-v2`.

use std::net::IpAddr;

use crate::layout::{self, Proto, Vip};
use crate::maglev::Variant;

/// A VIP as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipConfig {
    /// Address, port, protocol.
    pub vip: Vip,
    /// `F_*` flags.
    pub flags: u32,
    /// How its ring is filled.
    pub ring: Variant,
    /// Its reals and their weights, in the order given.
    pub reals: Vec<(IpAddr, u32)>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The gateway's MAC.
    pub gateway_mac: [u8; 6],
    /// VIPs in the order given (their numbers follow it).
    pub vips: Vec<VipConfig>,
    /// The VIP whose connection-table misses are counted per real.
    pub watch_lru_misses: Option<Vip>,
}

/// A configuration error: line number and reason.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ConfigError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    parts.try_into().ok()
}

fn parse_vip(words: &[&str]) -> Result<Vip, String> {
    let [addr, port, proto, ..] = words else {
        return Err("a VIP is ADDRESS PORT tcp|udp".into());
    };
    Ok(Vip {
        addr: addr
            .parse()
            .map_err(|_| format!("`{addr}` is no IP address"))?,
        port: port.parse().map_err(|_| format!("`{port}` is no port"))?,
        proto: match *proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => return Err(format!("protocol `{other}`: tcp or udp")),
        },
    })
}

fn parse_flags(s: &str) -> Result<u32, String> {
    s.split(',').try_fold(0, |acc, f| {
        let bit = match f {
            "hash-no-src-port" => layout::F_HASH_NO_SRC_PORT,
            "lru-bypass" => layout::F_LRU_BYPASS,
            "hash-dport-only" => layout::F_HASH_DPORT_ONLY,
            "hash-src-dst-port" => layout::F_HASH_SRC_DST_PORT,
            "udp-flow-migration" => layout::F_UDP_FLOW_MIGRATION,
            n => n
                .strip_prefix("0x")
                .map_or_else(|| n.parse(), |h| u32::from_str_radix(h, 16))
                .map_err(|_| format!("unknown VIP flag `{n}`"))?,
        };
        Ok(acc | bit)
    })
}

impl Config {
    /// Parses the configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        for (i, raw) in text.lines().enumerate() {
            let err = |reason: String| ConfigError {
                line: i + 1,
                reason,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some((&directive, args)) = words.split_first() else {
                continue;
            };
            match directive {
                "gateway-mac" => {
                    c.gateway_mac = args.first().and_then(|m| parse_mac(m)).ok_or_else(|| {
                        err("gateway-mac takes a MAC like 02:00:00:00:00:01".into())
                    })?;
                }
                "vip" => {
                    let vip = parse_vip(args).map_err(err)?;
                    if c.vips.iter().any(|v| v.vip == vip) {
                        return Err(err(format!("VIP {vip:?} given twice")));
                    }
                    let mut v = VipConfig {
                        vip,
                        flags: 0,
                        ring: Variant::V1,
                        reals: Vec::new(),
                    };
                    for opt in &args[3..] {
                        match opt.split_once('=') {
                            Some(("flags", f)) => v.flags = parse_flags(f).map_err(err)?,
                            Some(("hash", "maglev")) => v.ring = Variant::V1,
                            Some(("hash", "maglev-v2")) => v.ring = Variant::V2,
                            _ => return Err(err(format!("unknown VIP option `{opt}`"))),
                        }
                    }
                    if c.vips.len() as u32 >= layout::MAX_VIPS {
                        return Err(err(format!("more than {} VIPs", layout::MAX_VIPS)));
                    }
                    c.vips.push(v);
                }
                "real" => {
                    let vip = parse_vip(args).map_err(err)?;
                    let addr: IpAddr = args
                        .get(3)
                        .and_then(|a| a.parse().ok())
                        .ok_or_else(|| err("real takes VIP ADDRESS PORT PROTO REAL".into()))?;
                    let mut weight = 1;
                    for opt in &args[4..] {
                        match opt.split_once('=') {
                            Some(("weight", w)) => {
                                weight = w.parse().map_err(|_| err(format!("weight `{w}`")))?;
                            }
                            _ => return Err(err(format!("unknown real option `{opt}`"))),
                        }
                    }
                    let v = c.vips.iter_mut().find(|v| v.vip == vip).ok_or_else(|| {
                        err(format!("real of VIP {vip:?}, which is not defined above"))
                    })?;
                    v.reals.retain(|(a, _)| *a != addr);
                    v.reals.push((addr, weight));
                }
                "watch-lru-misses" => c.watch_lru_misses = Some(parse_vip(args).map_err(err)?),
                other => return Err(err(format!("unknown directive `{other}`"))),
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_and_their_errors() {
        let c = Config::parse(
            "gateway-mac 02:00:00:00:00:01\n\
             vip 10.0.0.10 80 tcp   # web\n\
             vip fc00::10 0 udp flags=hash-no-src-port,0x100 hash=maglev-v2\n\
             real 10.0.0.10 80 tcp 192.168.1.2 weight=3\n\
             real fc00::10 0 udp fc00::2\n",
        )
        .unwrap();
        assert_eq!(c.gateway_mac, [2, 0, 0, 0, 0, 1]);
        assert_eq!(c.vips[0].reals, [("192.168.1.2".parse().unwrap(), 3)]);
        assert_eq!(c.vips[1].flags, 0x101);
        assert_eq!(c.vips[1].ring, Variant::V2);
        let e = Config::parse("vip 10.0.0.1 80 sctp").unwrap_err();
        assert_eq!(
            (e.line, e.reason.as_str()),
            (1, "protocol `sctp`: tcp or udp")
        );
        let e = Config::parse("\nreal 10.0.0.1 80 tcp 10.0.0.2").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
