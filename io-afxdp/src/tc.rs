//! The traffic-control messages a host port needs, built with `netlink-packet-route`: a
//! clsact qdisc on a device, and on its ingress a filter that matches every frame and
//! hands it, with a mirred `ingress redirect` action, to another device's receive path.

use netlink_packet_core::Emitable;
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionMirrorOption, TcActionOption, TcActionType, TcAttribute,
    TcFilterU32Option, TcHandle, TcMessage, TcMirror, TcMirrorActionType, TcOption, TcU32Key,
    TcU32Selector, TcU32SelectorFlags,
};

/// `ETH_P_ALL`: a filter for every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// The filter's priority (any: it is the device's only filter).
const PRIORITY: u32 = 1;

fn bytes(m: &TcMessage) -> Vec<u8> {
    let mut out = vec![0u8; m.buffer_len()];
    m.emit(&mut out);
    out
}

/// `RTM_NEWQDISC` body: a clsact qdisc on device `ifindex`.
pub(crate) fn clsact(ifindex: u32) -> Vec<u8> {
    let mut m = TcMessage::with_index(ifindex as i32);
    m.header.handle = TcHandle {
        major: TcHandle::CLSACT.major,
        minor: 0,
    };
    m.header.parent = TcHandle::CLSACT;
    m.attributes.push(TcAttribute::Kind("clsact".into()));
    bytes(&m)
}

/// `RTM_NEWTFILTER` body: on the clsact ingress of device `from`, a u32 filter whose one
/// key matches everything (mask 0), with a mirred action that steals the frame and hands
/// it to the receive path of device `to`.
pub(crate) fn ingress_redirect(from: u32, to: u32) -> Vec<u8> {
    let mut m = TcMessage::with_index(from as i32);
    m.header.parent = TcHandle {
        major: TcHandle::CLSACT.major,
        minor: TcHandle::MIN_INGRESS,
    };
    // tcm_info: the priority above the protocol, which is in network byte order.
    m.header.info = (PRIORITY << 16) | u32::from(ETH_P_ALL.to_be());
    // One key of mask 0: it matches every frame.
    let key = TcU32Key::default();
    let mut selector = TcU32Selector::default();
    selector.flags = TcU32SelectorFlags::Terminal;
    selector.nkeys = 1;
    selector.keys = vec![key];
    let mut mirror = TcMirror::default();
    mirror.generic.action = TcActionType::Stolen;
    mirror.eaction = TcMirrorActionType::IngressRedir;
    mirror.ifindex = to;
    let mut action = TcAction::default();
    action.tab = 1;
    action.attributes = vec![
        TcActionAttribute::Kind("mirred".into()),
        TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
            mirror,
        ))]),
    ];
    m.attributes.push(TcAttribute::Kind("u32".into()));
    m.attributes.push(TcAttribute::Options(vec![
        TcOption::U32(TcFilterU32Option::Selector(selector)),
        TcOption::U32(TcFilterU32Option::Action(vec![action])),
    ]));
    bytes(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_filter_reads_back_as_built() {
        use netlink_packet_core::Parseable;
        let b = ingress_redirect(7, 3);
        let m = TcMessage::parse(&b[..]).unwrap();
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.parent.minor, TcHandle::MIN_INGRESS);
        assert_eq!(m.header.info & 0xffff, u32::from(ETH_P_ALL.to_be()));
        let text = format!("{m:?}");
        assert!(
            text.contains("IngressRedir") && text.contains("ifindex: 3"),
            "{text}"
        );
        let q = clsact(7);
        let m = TcMessage::parse(&q[..]).unwrap();
        assert_eq!(m.header.parent, TcHandle::CLSACT);
    }
}
