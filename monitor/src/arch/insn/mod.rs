//! Raw CHERI instruction words: the one place capmon spells out instructions upstream rustc
//! cannot assemble. (Being written: see issue 3.)
