"""RSS must not creep over many generations in one process (the original notebook's "RAM saturation")."""

from gwen.memory import rss_bytes


def test_rss_does_not_creep_over_30_generations(studio, tiny_sd, capsys):
    samples = []
    for i in range(30):
        studio.generate(f"memory run {i}", model=tiny_sd, n=2, seed=i * 10, steps=2, width=64, height=64)
        samples.append(rss_bytes())
    third, last = samples[2], samples[-1]
    with capsys.disabled():
        print(f"\nRSS after run 3: {third / 2**20:.1f} MiB, after run 30: {last / 2**20:.1f} MiB "
              f"(ratio {last / third:.3f})")
    # The closing note reports the exact ratio; the test keeps a generous bound so CI noise cannot flake it.
    assert last <= third * 1.10 + 32 * 2**20
