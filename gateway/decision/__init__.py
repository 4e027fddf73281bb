"""The pure decision core: facts and a day in, a decision with reason codes out. No I/O, no clock."""
