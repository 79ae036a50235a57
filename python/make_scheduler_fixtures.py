#!/usr/bin/env python3
"""Reference values of diffusers' DDPM, DDIM, DPM-Solver++ and flow-matching schedulers for the Swift parity tests:
Tests/Fixtures/schedulers/<case>/{scheduler_config.json, data.safetensors}.

data.safetensors holds the schedule (betas, alphas_cumprod or sigmas), the inference timesteps, a whole sampling
loop (initial sample, the model output fed at each step, every prev_sample / pred_original_sample, with a seeded
torch.Generator for the noise) and the training-time noising. Pinned packages: python/requirements-test.txt.
Deterministic: reruns write identical files.
"""
import json
import os
import sys
import shutil

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # fixture_io beside this script
from fixture_io import canonical  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "schedulers")

CASES = {
    "ddpm_default": (DDPMScheduler, {}, dict(steps=10)),
    "ddpm_scaled_v_trailing": (DDPMScheduler, dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                                    prediction_type="v_prediction", timestep_spacing="trailing",
                                                    variance_type="fixed_small_log", clip_sample=False), dict(steps=8)),
    "ddpm_cosine_sample_linspace": (DDPMScheduler, dict(beta_schedule="squaredcos_cap_v2", prediction_type="sample",
                                                         timestep_spacing="linspace", variance_type="fixed_large",
                                                         thresholding=True, sample_max_value=1.5), dict(steps=7)),
    "ddpm_sigmoid_learned_range": (DDPMScheduler, dict(beta_schedule="sigmoid", steps_offset=1,
                                                        variance_type="learned_range"), dict(steps=10, learned=True)),
    "ddpm_zero_snr": (DDPMScheduler, dict(rescale_betas_zero_snr=True, prediction_type="v_prediction",
                                          timestep_spacing="trailing", variance_type="fixed_large",
                                          num_train_timesteps=500), dict(steps=6)),
    "ddim_default": (DDIMScheduler, {}, dict(steps=10)),
    "ddim_scaled_offset_v": (DDIMScheduler, dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                                 set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction",
                                                 clip_sample=False), dict(steps=20)),
    "ddim_cosine_sample_eta": (DDIMScheduler, dict(beta_schedule="squaredcos_cap_v2", prediction_type="sample",
                                                   timestep_spacing="linspace"), dict(steps=9, eta=1.0)),
    "ddim_zero_snr_trailing": (DDIMScheduler, dict(rescale_betas_zero_snr=True, prediction_type="v_prediction",
                                                   timestep_spacing="trailing", thresholding=True), dict(steps=5, eta=0.5)),
    "flow_default": (FlowMatchEulerDiscreteScheduler, {}, dict(steps=10)),
    "flow_shift3": (FlowMatchEulerDiscreteScheduler, dict(shift=3.0), dict(steps=28)),
    "flow_dynamic": (FlowMatchEulerDiscreteScheduler, dict(use_dynamic_shifting=True), dict(steps=12, mu=0.8)),
    "flow_dynamic_linear": (FlowMatchEulerDiscreteScheduler, dict(use_dynamic_shifting=True, time_shift_type="linear"),
                            dict(steps=12, mu=1.3)),
    "flow_karras": (FlowMatchEulerDiscreteScheduler, dict(shift=2.0, use_karras_sigmas=True), dict(steps=9)),
    "flow_exponential": (FlowMatchEulerDiscreteScheduler, dict(use_exponential_sigmas=True), dict(steps=9)),
    "flow_inverted": (FlowMatchEulerDiscreteScheduler, dict(invert_sigmas=True), dict(steps=6)),
    "flow_terminal": (FlowMatchEulerDiscreteScheduler, dict(shift=3.0, shift_terminal=0.1), dict(steps=8)),
    "flow_stochastic": (FlowMatchEulerDiscreteScheduler, dict(stochastic_sampling=True), dict(steps=6)),
    # DPM-Solver++ (PixArt-α's default sampler) and its variants.
    "dpm_default": (DPMSolverMultistepScheduler, {}, dict(steps=10)),
    "dpm_order3_heun_trailing_v": (DPMSolverMultistepScheduler, dict(solver_order=3, solver_type="heun",
                                                                     timestep_spacing="trailing",
                                                                     prediction_type="v_prediction"), dict(steps=20)),
    "dpm_order1_leading_sigma_min": (DPMSolverMultistepScheduler, dict(solver_order=1, timestep_spacing="leading",
                                                                       steps_offset=1, final_sigmas_type="sigma_min"),
                                     dict(steps=8)),
    "dpm_dpmsolver_scaled_euler_final": (DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver",
                                                                           final_sigmas_type="sigma_min",
                                                                           beta_schedule="scaled_linear", beta_start=0.00085,
                                                                           beta_end=0.012, euler_at_final=True,
                                                                           solver_order=3), dict(steps=12)),
    "dpm_sde_heun": (DPMSolverMultistepScheduler, dict(algorithm_type="sde-dpmsolver++", solver_type="heun"),
                     dict(steps=8)),
    "dpm_zero_snr_sample_threshold": (DPMSolverMultistepScheduler, dict(rescale_betas_zero_snr=True,
                                                                        prediction_type="sample", thresholding=True,
                                                                        timestep_spacing="trailing"), dict(steps=6)),
    "dpm_cosine_clipped_learned": (DPMSolverMultistepScheduler, dict(beta_schedule="squaredcos_cap_v2",
                                                                     lambda_min_clipped=-5.1, solver_order=3,
                                                                     variance_type="learned_range",
                                                                     lower_order_final=False),
                                   dict(steps=16, learned=True)),
}




def make(name, cls, config, run):
    out = os.path.join(ROOT, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    sched = cls(**config)
    sched.save_config(out)
    t = {}
    if hasattr(sched, "betas"):
        t["betas"], t["alphas_cumprod"] = sched.betas, sched.alphas_cumprod
    else:
        t["train_sigmas"], t["train_timesteps"] = sched.sigmas, sched.timesteps
    if "mu" in run:
        sched.set_timesteps(run["steps"], mu=run["mu"])
    else:
        sched.set_timesteps(run["steps"])
    t["timesteps"] = sched.timesteps
    if hasattr(sched, "sigmas") and cls is FlowMatchEulerDiscreteScheduler:
        t["sigmas"] = sched.sigmas
    g = torch.Generator().manual_seed(11)
    channels = 3
    sample = torch.randn(2, channels, 4, 4, generator=g)
    t["sample0"] = sample
    step_gen = torch.Generator().manual_seed(7)
    for i, ts in enumerate(sched.timesteps):
        out_channels = channels * 2 if run.get("learned") else channels
        model_output = torch.randn(2, out_channels, 4, 4, generator=g) * 0.5 + 0.1 * sample.repeat(1, out_channels // channels, 1, 1)
        t[f"model_output.{i}"] = model_output
        kwargs = {"generator": step_gen}
        if "eta" in run:
            kwargs["eta"] = run["eta"]
        res = sched.step(model_output, ts, sample, **kwargs)
        sample = res.prev_sample
        t[f"prev_sample.{i}"] = sample
        if getattr(res, "pred_original_sample", None) is not None:
            t[f"pred_original_sample.{i}"] = res.pred_original_sample
    # Training-time noising.
    x0 = torch.randn(3, channels, 4, 4, generator=g)
    noise = torch.randn(3, channels, 4, 4, generator=g)
    t["x0"], t["noise"] = x0, noise
    if cls is FlowMatchEulerDiscreteScheduler:
        picked = sched.timesteps[[0, len(sched.timesteps) // 2, -1]]
        t["noise_timesteps"] = picked
        t["noisy"] = sched.scale_noise(x0, picked, noise)
    else:
        picked = torch.tensor([0, sched.config.num_train_timesteps // 2, sched.config.num_train_timesteps - 1])
        t["noise_timesteps"] = picked
        t["noisy"] = sched.add_noise(x0, noise, picked)
        if hasattr(sched, "get_velocity"):
            t["velocity"] = sched.get_velocity(x0, noise, picked)
    meta = {"steps": str(run["steps"]), "eta": str(run.get("eta", 0.0)), "mu": str(run.get("mu", "")),
            "source": "make_scheduler_fixtures.py"}
    path = os.path.join(out, "data.safetensors")
    save_file({k: v.detach().contiguous() for k, v in t.items()}, path, metadata=meta)
    canonical(path)
    print(f"{name}: {len(sched.timesteps)} steps")


def main():
    torch.set_num_threads(1)
    for name, (cls, config, run) in CASES.items():
        make(name, cls, config, run)


if __name__ == "__main__":
    main()
