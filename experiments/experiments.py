"""The experiment table of the reproduction driver (``python -m experiments.reproduce``), and the paper's numbers.

Every experiment is one rl-zoo config (``zoo_configs/<algo>.yml``, entry ``DroneHover-v0`` unless it names
another) plus the overrides on its line in :data:`EXPERIMENTS`. To add an experiment, add a line there
(and its group to a report section in :mod:`experiments.report` if it opens a new one).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

ENV_ID = "DroneHover-v0"


@dataclass(frozen=True)
class Experiment:
    """One training configuration: a zoo config plus overrides.

    :param name: run folder name.
    :param label: name in tables and plots.
    :param algo: rl-zoo algorithm name = config file ``zoo_configs/<algo>.yml``.
    :param overrides: hyper-parameters replacing the config's (``None`` removes a key).
    :param groups: report sections the run appears in ("robustness": the driver also flies the
        robustness suite after training).
    :param env_id: the config file's entry (and env) it trains on.
    :param archived: why it can no longer be rerun (it used options that were removed since); its finished runs
        stay records whose report rows regenerate. Empty: rerunnable.
    """

    name: str
    label: str
    algo: str
    overrides: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    env_id: str = ENV_ID
    archived: str = ""

    def check_rerunnable(self) -> None:
        """``RuntimeError`` naming the reason for an archived experiment."""
        if self.archived:
            raise RuntimeError(
                f"experiment {self.name} is an archived record and cannot be rerun: {self.archived}. Its finished runs are "
                "kept and reported; to train it again, check out a commit before the options were removed"
            )


#: the paper's actor inside the default recipe: linear readout of the spikes, no past actions in the input
PAPER_ACTOR = dict(policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256])), env_kwargs=dict(actor_history=0), gradient_steps=10)
#: the paper's recipe as written (its table and §6), with its actor
PAPER = dict(alpha=2.0, bc_coef=0.2, bc_decay=0.99, bc_target="executed", guide_horizon_start=400, guide_horizon_end=50,
             critic_fraction=1.0, policy_delay=2, **PAPER_ACTOR)
MLP = dict(policy="MlpSequencePolicy", slope_schedule=None, slope_max=None, slope_schedule_kwargs=None,
           policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[256, 256])), env_kwargs=dict(actor_history=0))
LEAKY = dict(policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256]), readout="leaky"))
NO_GUIDE = dict(guide=None, guide_horizon_start=0, guide_horizon_end=0, bc_coef=0.0)


#: the guided-RL recipe: the critic on (α 2 with TD3+BC's 1/mean|Q| scale) after 20 % of training (plain relabelled BC
#: while it learns), then the guide imitated only where the critic prefers its action (Q-filtered BC), λ_BC falling
#: to 0 at 80 % of training so that the Q term alone finishes
GUIDED_RL = dict(alpha=2.0, bc_filter="q", bc_anneal_fraction=0.8, q_start_fraction=0.2, n_steps=10, critic_fraction=0.25, policy_delay=1)
#: why the experiments built on GUIDED_RL (and the anchor probe) are archived records
REMOVED_Q_FILTER = ("uses bc_filter / bc_anneal_fraction / q_start_fraction, removed from GuidedTD3 after every probe with them "
                    "collapsed (docs/guided_rl.md §3)")
REMOVED_ANCHOR = "uses anchor_coef / bc_anneal_fraction / q_start_fraction, removed from GuidedTD3 (measured worse: docs/guided_rl.md §7)"
WEAK75 = "sb3_spiking.tasks.drone.pd_guide:WeakPDGuide75"
WEAK63 = "sb3_spiking.tasks.drone.pd_guide:WeakPDGuide63"
SOFT80 = "sb3_spiking.tasks.drone.pd_guide:SoftAttitudePDGuide80"


#: the default recipe with the paper's 18-value actor input (no past commands)
NO_HISTORY = dict(env_kwargs=dict(actor_history=0))
#: ... and the actor's own commands fed back into its first layer (memory in the network's state)
MEMORY_FEEDBACK = dict(NO_HISTORY, policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256]), readout="leaky", feedback=True))
#: ... starting from the command in force, which the env hands over: the default config's actor since issue 27
COMMAND_FEEDBACK = dict(MEMORY_FEEDBACK, env_kwargs=dict(NO_HISTORY["env_kwargs"], command_obs=True))

#: every command held 2 simulator steps (VecActionRepeat), the guide's horizon halved to fly the same simulated time
HELD_2 = dict(guide_horizon_start=100, vec_env_wrapper={"sb3_spiking.envs.action_repeat.VecActionRepeat": {"k": 2}})


def _fixed(k: float) -> dict[str, Any]:
    return dict(slope_schedule="fixed", slope=k, slope_max=None)


INTERVAL = dict(slope_schedule="interval", slope=1.0, slope_max=100.0, slope_interval=0.1)

#: imitation for the first 70 %, then the vine gradient alone (issue 17; the vine phase sets λ_BC to 0; its learning
#: rate falls to 0 at the end, so ~180 k steps of vine cover the rise to its plateau and stop before the drift that
#: followed in the 50 % probes); no reward curriculum (imitation does not read rewards, and the vine then optimises
#: the final reward from its start)
VINE = dict(vine_start_fraction=0.7, callback=[])
#: ... with branch points every ~8 steps in the first 80 steps of an episode (besides every ~50 steps throughout):
#: the students lose most to their teacher in the first 200 steps and by crashing from a few falling starts there
VINE_EARLY = dict(VINE, vine_kwargs=dict(early_steps=80, early_spacing=8))
#: ... with twice the branch points throughout (every ~25 steps) on copies that fly 150 steps instead of 300: in the
#: fine-tune probes (docs/guided_rl.md §10) the rise is twice as fast for fewer simulated steps, and the copies' return
#: after 150 steps only adds noise; from 75 % (~190 train() calls, past where the probes level off)
VINE_DENSE = dict(VINE, vine_start_fraction=0.75, vine_kwargs=dict(early_steps=80, early_spacing=8, spacing=25, horizon=150))
#: a third of the learning rate, held (no anneal), from 65 % (~260 train() calls): in the fine-tune probes the drift of
#: section 8 is the noise of the steps (at 1e-4 the vine rises more slowly but higher, with no drift in 240 rounds);
#: 150-step copies as VINE_DENSE (same curve, half the simulation)
VINE_SLOW = dict(VINE, vine_start_fraction=0.65, vine_kwargs=dict(horizon=150, learning_rate=1e-4, anneal=False))
#: ... its copies flown on a dynamics model learnt from the replay buffer instead of copies of the simulator (issue 30:
#: the vine where the simulator cannot be copied; sb3_spiking.guided_td3.dynamics)
VINE_MODEL = dict(VINE_SLOW, vine_kwargs=dict(VINE_SLOW["vine_kwargs"], copies="model"))
#: ... and its branch points drawn from the replay buffer's newest steps instead of leader flights: no env steps
#: beyond training's
VINE_MODEL_REPLAY = dict(VINE_SLOW, vine_kwargs=dict(VINE_MODEL["vine_kwargs"], branch_from="replay"))

EXPERIMENTS: list[Experiment] = [
    # 1. sequence training with the curriculum (paper Fig. 4 / Table 1)
    Experiment("main", "GuidedTD3, default recipe (relabelled BC + JSRL, H 200→0, LI readout, 30 updates / 50 steps) with 4 past actions in "
               "(the default config until issue 27), adaptive",
               "guided_td3", {}, ("sequence", "ablation", "slope_rl", "controllers", "readout", "recipe", "robustness")),
    Experiment("paper", "GuidedTD3, paper's settings as written (TD3BC+JSRL: α 2, λ_BC 0.2 × 0.99, BC to the executed action, H 400→50) and actor",
               "guided_td3", PAPER, ("sequence", "paper_recipe")),
    Experiment("paper_relabel", "GuidedTD3, paper's settings and actor, but BC to the guide's relabelled action (bc_target guide)",
               "guided_td3", dict(PAPER, bc_target="guide"), ("sequence", "paper_recipe")),
    Experiment("paper_actor", "GuidedTD3, default recipe (10 updates / 50 steps) with the paper's actor (linear readout, no past actions)", "guided_td3",
               PAPER_ACTOR, ("sequence", "controllers", "readout")),
    Experiment("td3bc_small", "GuidedTD3 + Q term (α 0.2)", "guided_td3", dict(alpha=0.2), ("sequence",)),
    Experiment("td3", "TD3 from scratch", "seq_td3", {}, ("sequence", "ablation")),
    Experiment("bc", "BC on guide data", "guide_bc", {}, ("sequence", "slope_bc")),
    Experiment("td3bc", "TD3BC on guide data", "guide_td3bc", {}, ("sequence",)),
    # 2. ablation BC term x jump-start (paper Table 4); (yes, yes) = main, (no, no) = td3
    Experiment("no_bc", "jump-start, no BC term (Q term α 2 instead)", "guided_td3", dict(bc_coef=0.0, alpha=2.0), ("ablation",)),
    Experiment("no_js", "BC term, no jump-start", "guided_td3", dict(guide_horizon_start=0, guide_horizon_end=0), ("ablation",)),
    # 3. slope study, online RL (adaptive = main) and BC (adaptive = bc)
    Experiment("rl_k2", "k = 2", "guided_td3", _fixed(2.0), ("slope_rl",)),
    Experiment("rl_k50", "k = 50", "guided_td3", _fixed(50.0), ("slope_rl",)),
    Experiment("rl_k100", "k = 100", "guided_td3", _fixed(100.0), ("slope_rl",)),
    Experiment("rl_interval", "interval", "guided_td3", INTERVAL, ("slope_rl",)),
    Experiment("bc_k2", "k = 2", "guide_bc", _fixed(2.0), ("slope_bc",)),
    Experiment("bc_k50", "k = 50", "guide_bc", _fixed(50.0), ("slope_bc",)),
    Experiment("bc_k100", "k = 100", "guide_bc", _fixed(100.0), ("slope_bc",)),
    Experiment("bc_interval", "interval", "guide_bc", INTERVAL, ("slope_bc",)),
    # 4. controllers side by side: MLP actors trained the same way (paper's ANN 64-64)
    Experiment("mlp", "MLP 64-64, no action history", "guided_td3", MLP, ("controllers",)),
    Experiment("mlp_hist", "MLP 64-64 + 32 past actions", "guided_td3", {**MLP, "env_kwargs": dict(actor_history=32)}, ("controllers",)),
    # 5. beyond the paper: what the default's changes to the paper's actor are worth (readout x past actions,
    #    at 10 actor updates per 50 steps as measured; the default then raised them to 30)
    Experiment("leaky", "leaky-integrator readout, no past actions", "guided_td3",
               dict(policy_kwargs=dict(LEAKY["policy_kwargs"]), env_kwargs=dict(actor_history=0), gradient_steps=10), ("readout",)),
    Experiment("leaky_b08", "leaky-integrator readout (β₀ 0.8), no past actions", "guided_td3",
               dict(policy_kwargs=dict(LEAKY["policy_kwargs"], readout_beta=0.8), env_kwargs=dict(actor_history=0), gradient_steps=10), ("readout",)),
    Experiment("snn_hist4", "linear readout, 4 past actions", "guided_td3",
               dict(policy_kwargs=PAPER_ACTOR["policy_kwargs"], env_kwargs=dict(actor_history=4), gradient_steps=10), ("readout",)),
    Experiment("snn_hist", "linear readout, 32 past actions", "guided_td3",
               dict(policy_kwargs=PAPER_ACTOR["policy_kwargs"], env_kwargs=dict(actor_history=32), gradient_steps=10), ("readout",)),
    Experiment("main_g10", "default with 10 actor updates per 50 steps", "guided_td3", dict(gradient_steps=10), ("readout",)),
    Experiment("snn_hist_leaky", "leaky-integrator readout, 32 past actions", "guided_td3",
               dict(policy_kwargs=dict(LEAKY["policy_kwargs"]), env_kwargs=dict(actor_history=32), gradient_steps=10), ("readout",)),
    # 6. the default's training schedule
    #    (measured with 20 updates, the default before the 30 of "main")
    Experiment("main_g20", "default with 20 actor updates per 50 steps", "guided_td3", dict(gradient_steps=20), ("recipe",)),
    Experiment("main_lin", "20 updates, learning rate falling linearly to 0 (rl-zoo lin_0.001)", "guided_td3",
               dict(learning_rate="lin_0.001", gradient_steps=20), ("recipe",)),
    Experiment("main_h50", "20 updates, the guide's horizon reaching 0 at 50 % of training (default 80 %)", "guided_td3",
               dict(guide_horizon_fraction=0.5, gradient_steps=20), ("recipe",)),
    # 7. guided RL: can the student beat its teacher? (issue 17) Students of detuned privileged guides
    Experiment("weak75_bc", "relabelled BC (default recipe), taught by WeakPDGuide75 (≈ 75 % of PD)", "guided_td3", dict(guide=WEAK75), ("guided_rl",)),
    Experiment("weak63_bc", "relabelled BC (default recipe), taught by WeakPDGuide63 (≈ 63 % of PD)", "guided_td3", dict(guide=WEAK63), ("guided_rl",)),
    Experiment("soft80_bc", "relabelled BC (default recipe), taught by SoftAttitudePDGuide80 (≈ 80 %, crashes 9 %)", "guided_td3",
               dict(guide=SOFT80), ("guided_rl",)),
    # the RL half without a learnt critic: vine gradients from copies of the simulator (sb3_spiking.guided_td3.vine)
    Experiment("weak75_vine", "imitation of WeakPDGuide75, then from 70 % on vine policy gradients from copies of the "
               "simulator instead (no learnt critic)", "guided_td3",
               dict(guide=WEAK75, **VINE), ("guided_rl",)),
    Experiment("main_vine", "default recipe (imitation of PDHoverGuide), then from 70 % on vine policy gradients instead", "guided_td3",
               dict(VINE), ("guided_rl",)),
    Experiment("weak75_vine_early", "as weak75_vine with denser branch points in the first 80 steps of each episode",
               "guided_td3", dict(guide=WEAK75, **VINE_EARLY), ("guided_rl",)),
    Experiment("main_vine_early", "as main_vine with denser branch points in the first 80 steps of each episode", "guided_td3",
               dict(VINE_EARLY), ("guided_rl",)),
    # denser early branch points speed the rise, so the peak comes sooner: the vine phase from 80 % (150 train() calls,
    # the length of the drift-free fine-tune, docs/guided_rl.md §9)
    Experiment("weak75_vine_early80", "as weak75_vine_early with the vine phase from 80 %", "guided_td3",
               dict(guide=WEAK75, **dict(VINE_EARLY, vine_start_fraction=0.8)), ("guided_rl",)),
    Experiment("main_vine_early80", "as main_vine_early with the vine phase from 80 %", "guided_td3",
               dict(VINE_EARLY, vine_start_fraction=0.8), ("guided_rl",)),
    Experiment("weak75_vine_dense", "as weak75_vine_early from 75 %, with branch points every ~25 steps and 150-step copies",
               "guided_td3", dict(guide=WEAK75, **VINE_DENSE), ("guided_rl",)),
    Experiment("main_vine_dense", "as main_vine_early from 75 %, with branch points every ~25 steps and 150-step copies",
               "guided_td3", dict(VINE_DENSE), ("guided_rl",)),
    Experiment("weak75_vine_slow", "as weak75_vine from 65 %, vine learning rate 1e-4 held (no anneal), 150-step copies",
               "guided_td3", dict(guide=WEAK75, **VINE_SLOW), ("guided_rl",)),
    Experiment("weak75_vine_model", "as weak75_vine_slow, the copies flown on a dynamics model learnt from the replay "
               "buffer (nothing of the simulator copied)", "guided_td3", dict(guide=WEAK75, **VINE_MODEL), ("guided_rl",)),
    Experiment("weak75_vine_model_replay", "as weak75_vine_model, the branch points drawn from the replay buffer's "
               "newest steps (no leader flights)", "guided_td3", dict(guide=WEAK75, **VINE_MODEL_REPLAY), ("guided_rl",)),
    Experiment("main_vine_slow", "as main_vine from 65 %, vine learning rate 1e-4 held (no anneal), 150-step copies",
               "guided_td3", dict(VINE_SLOW), ("guided_rl",)),
    # the first vine runs: the vine phase from 50 % on (it peaked ~100 k steps after its start, then drifted)
    Experiment("weak75_vine50", "as weak75_vine with the vine phase from 50 % (the first vine runs)", "guided_td3",
               dict(VINE, vine_start_fraction=0.5, guide=WEAK75), ("guided_rl",)),
    Experiment("main_vine50", "as main_vine with the vine phase from 50 % (the first vine run)", "guided_td3",
               dict(VINE, vine_start_fraction=0.5), ("guided_rl",)),
    # the critic-on probes of the weak-guide benchmark (one seed each, stopped once their verdict was clear:
    # docs/guided_rl.md; not part of --quick / --full)
    Experiment("weak75_p0", "probe: α 2, 1-step critic, Q-filtered BC, λ_BC → 0 at 80 %, Q term from step 0", "guided_td3",
               dict(GUIDED_RL, q_start_fraction=0.0, n_steps=1, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_p0b", "probe: as p0, Q term and filter after 20 % of training", "guided_td3", dict(GUIDED_RL, n_steps=1, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_rl", "probe: as p0b with 10-step critic targets (GUIDED_RL)", "guided_td3", dict(GUIDED_RL, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_rl_n25", "probe: as weak75_rl with 25-step targets", "guided_td3", dict(GUIDED_RL, n_steps=25, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_p1", "probe: α 0.3, 20-step targets, Q filter, λ_BC kept", "guided_td3",
               dict(GUIDED_RL, alpha=0.3, n_steps=20, bc_anneal_fraction=None, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_p2", "probe: α 0.3, 20-step targets, Q filter, λ_BC → 0 at 80 %", "guided_td3",
               dict(GUIDED_RL, alpha=0.3, n_steps=20, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_p3", "probe: α 0.01, 20-step targets, best-rated target (bc_filter best), λ_BC kept", "guided_td3",
               dict(GUIDED_RL, alpha=0.01, n_steps=20, bc_filter="best", bc_anneal_fraction=None, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_p4", "probe: α 0.01, 20-step targets, Q filter, λ_BC kept", "guided_td3",
               dict(GUIDED_RL, alpha=0.01, n_steps=20, bc_anneal_fraction=None, guide=WEAK75), ("probe",), archived=REMOVED_Q_FILTER),
    Experiment("weak75_anchor", "probe: α 1, LayerNorm critic, trust region to the target actor (anchor 10), 10-step targets, "
               "λ_BC → 0 at 50 %, Q term after 20 %, no reward curriculum (the critic's reward stays fixed)", "guided_td3",
               dict(alpha=1.0, anchor_coef=10.0, bc_anneal_fraction=0.5, q_start_fraction=0.2, n_steps=10, critic_fraction=0.25,
                    policy_delay=1, guide=WEAK75, callback=[],
                    policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256]), readout="leaky", critic_layer_norm=True)),
               ("probe",), archived=REMOVED_ANCHOR),
    # issue 30: the weak teacher without the vine, with the TD3+BC recipe that lifts LunarLander's student above its
    # weak teacher (experiments/weak_teacher_lunar.py: α 2.5, policy delay 2, λ_BC × 0.9 every 1000 updates) and the
    # default config's actor
    Experiment("weak75_td3bc", "probe: TD3+BC as on LunarLander (α 2.5, λ_BC × 0.9 every 1000 updates), default actor, "
               "taught by WeakPDGuide75, no vine", "guided_td3",
               dict(COMMAND_FEEDBACK, alpha=2.5, policy_delay=2, bc_decay=0.9, guide=WEAK75), ("probe",)),
    # ... deciding every 2 simulator steps (50 Hz; sb3_spiking.envs.action_repeat), the lever that lifts LunarLander's
    # student to the target (docs/critic.md §3). Holding actions costs the drone: the PD guide gives 365.5 at 50 Hz
    # (399.2 at 100 Hz), WeakPDGuide75 287.6 (298.2)
    Experiment("weak75_td3bc_rep2", "probe: weak75_td3bc deciding every 2 simulator steps (action repetition)",
               "guided_td3", dict(COMMAND_FEEDBACK, alpha=2.5, policy_delay=2, bc_decay=0.9, guide=WEAK75, **HELD_2),
               ("probe",)),
    Experiment("weak75_bc_rep2", "probe: relabelled BC alone (α 0) on weak75_td3bc_rep2's actor and held actions: "
               "what imitation gives at 50 Hz", "guided_td3", dict(COMMAND_FEEDBACK, guide=WEAK75, **HELD_2), ("probe",)),
    Experiment("weak75_td3bc_rep2_hold", "probe: weak75_td3bc_rep2 with λ_BC × 0.99 every 1000 updates (the default "
               "config's decay: ≈ 0.8 at the end) instead of × 0.9", "guided_td3",
               dict(COMMAND_FEEDBACK, alpha=2.5, policy_delay=2, guide=WEAK75, **HELD_2), ("probe",)),
    # the paper's recipe as written, and as the authors' public code runs it (Q at buffer actions: no policy gradient)
    Experiment("paper_code", "paper's settings and actor, Q term at the buffer action (the authors' public code: no policy gradient)",
               "guided_td3", dict(PAPER, actor_q_input="buffer"), ("paper_recipe",)),
    # 8. robustness (issue 18): the default recipe trained on randomised drones with sensor noise, the adaptive guide
    #    teaching (zoo entry DroneHoverRobust-v0); evaluated with the robustness suite beside "main"
    Experiment("robust", "robust recipe: DR 0.2 + l2f 1.x observation noise, adaptive PD guide (DroneHoverRobust-v0)", "guided_td3",
               {}, ("robustness",), env_id="DroneHoverRobust-v0"),
    # 9. memory in the network (issue 27): the actor sees only the paper's 18 values (no past commands); its own state
    #    remembers. The default recipe otherwise (leaky readout, 30 updates / 50 steps)
    Experiment("mem_feedback", "no past actions in; the actor's own commands fed back through 4 leaky traces (LIF layers)",
               "guided_td3", MEMORY_FEEDBACK, ("memory",)),
    Experiment("mem_feedback_syn", "no past actions in; synaptic LIF layers + the action feedback",
               "guided_td3", dict(NO_HISTORY, policy_kwargs=dict(MEMORY_FEEDBACK["policy_kwargs"], neuron="synaptic")), ("memory",)),
    # does the history actor's lead come from l2f writing the motors' initial speeds into its history at reset (a
    # zero-state network cannot know them)? The default config with the history starting at a constant instead
    Experiment("mem_hist4_blind", "4 past commands in, the history starting at -0.5 instead of the motors' initial speeds",
               "guided_td3", dict(env_kwargs=dict(actor_history=4, history_fill=-0.5)), ("memory",)),
    # the probe that gives the feedback actor what the history actor reads: its efference copy starts from the command
    # in force (experiments/efference_probe.py)
    Experiment("mem_feedback_efference", "no past actions in; action feedback whose state starts from the command in force "
               "(efference probe)", "guided_td3",
               dict(MEMORY_FEEDBACK, policy="experiments.efference_probe:EfferenceSpikingPolicy"), ("memory",)),
    Experiment("mem_feedback_start", "no past actions in; action feedback whose state starts from the constant command "
               "-0.5 (the efference probe's control)", "guided_td3",
               dict(MEMORY_FEEDBACK, policy="experiments.efference_probe:ConstantStartSpikingPolicy"), ("memory",)),
    # the product version of the efference probe: the env hands the command in force over (command_obs), the actor's
    # feedback starts from it (SpikingActor.start_state); no probe code
    Experiment("mem_feedback_command", "no past actions in; action feedback starting from the env's command in force "
               "(command_obs)", "guided_td3",
               COMMAND_FEEDBACK, ("memory",)),
    # each memory layer alone on the drone (no feedback, no history): the layer-type x task table of issue 27
    *[Experiment(f"mem_{kind}", f"no past actions in; {kind} LIF layers, no feedback", "guided_td3",
                 dict(NO_HISTORY, policy_kwargs=dict(LEAKY["policy_kwargs"], neuron=kind)),
                 ("memory",)) for kind in ("synaptic", "adaptive", "recurrent")],
    Experiment("mem_nohist", "no past actions in; LIF layers, no feedback (the default recipe otherwise)",
               "guided_td3", NO_HISTORY, ("memory",)),
]
#: the default drone recipe until issue 27 made the history-free feedback actor the default (zoo_configs/guided_td3.yml):
#: 4 past commands in the actor's input, no action feedback. Every drone experiment above was measured on it, so one
#: that leaves the actor's policy or env options to the config keeps these (its runs stay comparable and archived);
#: the new default is ``mem_feedback_command``'s setting.
HISTORY_RECIPE = dict(policy_kwargs=dict(LEAKY["policy_kwargs"]), env_kwargs=dict(actor_history=4))


def _on_history_recipe(exp: Experiment) -> Experiment:
    if exp.algo != "guided_td3" or exp.env_id != ENV_ID:
        return exp
    missing = {k: v for k, v in HISTORY_RECIPE.items() if k not in exp.overrides}
    return replace(exp, overrides={**missing, **exp.overrides})


EXPERIMENTS = [_on_history_recipe(e) for e in EXPERIMENTS]
BY_NAME = {e.name: e for e in EXPERIMENTS}

#: run sets: (experiments, seeds, env steps per run)
PROFILES = {
    # quick: the paper's experiments (groups 1-4); the readout study needs the full budget to say anything
    # (the weak-guide and paper-recipe studies need the full budget too)
    "quick": dict(only=[e.name for e in EXPERIMENTS if set(e.groups) - {"readout", "recipe", "robustness", "guided_rl", "paper_recipe", "probe"}],
                  seeds=[0], steps=60_000),
    "full": dict(only=[e.name for e in EXPERIMENTS if "probe" not in e.groups], seeds=[0, 1, 2], steps=600_000),
}

# Paper numbers (docs: ../shared/reference/paper.md §8) shown beside ours.
PAPER_SEQUENCE = {
    "main": "≈ 400, episodes 450–500 steps (TD3BC+JSRL)",
    "paper": "≈ 400, episodes 450–500 steps",
    "td3": "≈ +10, ~40-step episodes",
    "bc": "−150 … −200",
    "td3bc": "−150 … −200",
}
PAPER_ABLATION = {  # (BC term, jump-start) -> (final reward, steps to 100)
    "main": ("yes", "yes", "412 ± 6.7", "2 200 ± 124"),
    "no_bc": ("no", "yes", "334 ± 25.6", "33 030 ± 1 600"),
    "no_js": ("yes", "no", "32 ± 1.2", "never"),
    "td3": ("no", "no", "36 ± 4.1", "never"),
}
PAPER_SLOPE_RL = {"rl_k2": ("≈ 383", "≈ 42"), "main": ("≈ 381", "≈ 50"), "rl_interval": ("≈ 292", "≈ 37"),
                  "rl_k50": ("≈ 163", "≈ 161"), "rl_k100": ("≈ 174", "≈ 149")}
PAPER_SLOPE_BC = "≈ 222–259 for every slope"
PAPER_BC_SLOPE_SPREAD = 259 - 222
PAPER_CONTROLLERS = {"main": "446 (SNN 256-128)", "mlp_hist": "447 (ANN 64-64 with action history)"}
