: nb_kv3.mod - Kv3-type fast delayed rectifier (high threshold, fast), gate m.
: Kinetics: Kv3.1 of Rettig et al. (1992) EMBO J 11:2473 as fitted by
: Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Kv3_1). Kv3 channels let
: fast-spiking interneurons repolarise quickly (Rudy & McBain 2001, TINS 24:517).
: Written for noble.
NEURON {
    SUFFIX nb_kv3
    USEION k READ ek WRITE ik
    RANGE gbar, g
    GLOBAL vshift
}
UNITS { (S) = (siemens) (mV) = (millivolt) (mA) = (milliamp) }
PARAMETER {
    gbar = 0.5 (S/cm2)
    vshift = 0 (mV)
}
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) g (S/cm2) minf mtau (ms) }
STATE { m }
BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m
    ik = g*(v - ek)
}
DERIVATIVE states { rates(v) m' = (minf - m)/mtau }
INITIAL { rates(v) m = minf }
PROCEDURE rates(v (mV)) { LOCAL u
    TABLE minf, mtau DEPEND vshift FROM -120 TO 80 WITH 800
    u = v - vshift
    minf = 1/(1 + exp((u - 18.7)/(-9.7)))
    mtau = 0.2*20/(1 + exp((u + 46.56)/(-44.14)))
}
