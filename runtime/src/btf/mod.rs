//! BTF: the BPF Type Format of `.BTF` and `.BTF.ext` sections.
