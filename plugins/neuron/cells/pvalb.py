"""pvalb.py - noble's built-in PVALB-like fast-spiking interneuron (NEURON, Python).

A multi-compartment basket-cell-like morphology: a round soma, four primary
dendrites that each branch once (12 dendritic sections), an axon hillock/initial
segment (AIS) and an unmyelinated axon; 89 segments in all. Channels are the
noble NMODL mechanisms in plugins/neuron/mod (docs/neuron-cell.md says where each
one's kinetics come from). The class follows noble's cell interface
(docs/neuron-cell.md): the constructor builds the cell with default values, the
attribute `soma` is the section that receives the current step and whose middle is
recorded, and section lists (all, somatic, dendritic, ais, axonal) are what the
parameter table's names refer to ("gbar_nb_nat@ais").
"""
from neuron import h


class PvalbCell:
    def __init__(self):
        self.all = h.SectionList()
        self.somatic = h.SectionList()
        self.dendritic = h.SectionList()
        self.ais = h.SectionList()
        self.axonal = h.SectionList()
        self.soma = h.Section(name="soma", cell=self)
        self.soma.L = self.soma.diam = 18.0
        self.soma.nseg = 1
        self.somatic.append(self.soma)
        self.dends = []
        for i in range(4):
            p = h.Section(name="dend%d" % i, cell=self)
            p.L, p.diam, p.nseg = 50.0, 1.6, 3
            p.connect(self.soma(1.0 if i % 2 else 0.0))
            self.dends.append(p)
            for j in range(2):
                c = h.Section(name="dend%d_%d" % (i, j), cell=self)
                c.L, c.diam, c.nseg = 150.0, 0.8, 7
                c.connect(p(1.0))
                self.dends.append(c)
        for d in self.dends:
            self.dendritic.append(d)
        self.hillock = h.Section(name="ais", cell=self)
        self.hillock.L, self.hillock.diam, self.hillock.nseg = 30.0, 1.2, 5
        self.hillock.connect(self.soma(0.5))
        self.ais.append(self.hillock)
        self.axon = h.Section(name="axon", cell=self)
        self.axon.L, self.axon.diam, self.axon.nseg = 400.0, 0.8, 15
        self.axon.connect(self.hillock(1.0))
        self.axonal.append(self.axon)
        for lst in (self.somatic, self.dendritic, self.ais, self.axonal):
            for s in lst:
                self.all.append(s)
        for s in self.all:
            s.Ra = 120.0
            s.cm = 1.0
            for m in ("nb_leak", "nb_nat", "nb_kv3", "nb_kdr"):
                s.insert(m)
        for s in self.somatic:
            for m in ("nb_ih", "nb_nap", "nb_km"):
                s.insert(m)
        for s in self.dendritic:
            s.insert("nb_ih")
        for s in self.all:
            s.ena = 50.0
            s.ek = -90.0

    def __repr__(self):
        return "PvalbCell"
