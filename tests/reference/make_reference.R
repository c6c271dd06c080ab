# R reference for sofeval.models / sofeval.inference (run once; output is committed).
#
#   Rscript tests/reference/make_reference.R
#
# Reads cloglog_cells.csv (written by make_data.py), expands the cells to person-week
# rows (0/1 events) so that N of sandwich's HC1 correction is the number of
# person-weeks, fits binomial GLMs with cloglog and logit links and writes the
# coefficients, model-based and cluster-robust (vcovCL, type = "HC1") standard errors
# to r_output.json.
suppressPackageStartupMessages({
  library(sandwich)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
cells <- read.csv(file.path(here, "cloglog_cells.csv"), stringsAsFactors = FALSE)
idx <- rep(seq_len(nrow(cells)), cells$trials)
pw <- cells[idx, ]
rank_in_cell <- ave(seq_along(idx), idx, FUN = seq_along)
pw$event <- as.integer(rank_in_cell <= cells$events[idx])
stopifnot(sum(pw$event) == sum(cells$events), nrow(pw) == sum(cells$trials))
for (v in c("cluster", "week_block", "month", "phase")) pw[[v]] <- factor(pw[[v]])

form <- event ~ week_block + cluster + month + phase + D_early + D_late
out <- list(r_version = R.version.string,
            sandwich_version = as.character(packageVersion("sandwich")),
            n_obs = nrow(pw), n_events = sum(pw$event), models = list())
for (link in c("cloglog", "logit")) {
  fit <- glm(form, family = binomial(link), data = pw,
             control = glm.control(epsilon = 1e-12, maxit = 100))
  vc <- vcovCL(fit, cluster = ~cluster, type = "HC1")
  out$models[[link]] <- list(
    term = names(coef(fit)),
    coef = unname(coef(fit)),
    se_model = unname(sqrt(diag(vcov(fit)))),
    se_cluster_hc1 = unname(sqrt(diag(vc))),
    loglik = as.numeric(logLik(fit)),
    iter = fit$iter
  )
}
write_json(out, file.path(here, "r_output.json"), digits = NA, pretty = TRUE)
cat("wrote", file.path(here, "r_output.json"), "\n")
