# R reference for sofeval.analyses.destinations (run once; output is committed).
#
#   Rscript tests/reference/destinations/make_reference.R
#
# Reads cells.csv (written by make_data.py), expands the cells to person-weeks with one 0/1
# event column per destination, and for every destination fits the binomial cloglog GLM
#   event ~ week_block + jobcentre + month + D_early + D_late
# with, as in sofeval, the reference level of each factor its largest level (person-weeks)
# with an event of that destination. Levels without any event of the destination have a
# coefficient at minus infinity; their person-weeks are dropped (repeatedly, until every
# level has an event) before the fit, which gives the limit that sofeval reports.
# Writes the coefficients, the clustered covariance (vcovCL, HC0 with the G/(G-1) cluster
# adjustment = Stata's and sofeval's "stata" correction) and the cross-covariance of the
# programme terms of every pair of destinations, from the stacked cluster scores
# (estfun) and breads, as Stata's suest, to r_output.json.
suppressPackageStartupMessages({
  library(sandwich)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
cells <- read.csv(file.path(here, "cells.csv"), stringsAsFactors = FALSE)
dest <- c("employment", "unemployment", "job_clarification", "other")
idx <- rep(seq_len(nrow(cells)), cells$at_risk)
pw <- cells[idx, c("jobcentre", "week_block", "month", "D_early", "D_late")]
rank_in_cell <- ave(seq_along(idx), idx, FUN = seq_along)
start <- 0
for (d in dest) {
  n_d <- cells[[paste0("event_", d)]][idx]
  pw[[d]] <- as.integer(rank_in_cell > start & rank_in_cell <= start + n_d)
  start <- start + n_d
}
stopifnot(nrow(pw) == sum(cells$at_risk))
factors <- c("week_block", "jobcentre", "month")
G <- length(unique(pw$jobcentre))

fits <- list()
out <- list(r_version = R.version.string,
            sandwich_version = as.character(packageVersion("sandwich")),
            n_obs = nrow(pw), models = list(), cross = list())
for (d in dest) {
  data <- pw
  repeat {  # drop levels without an event of d (their coefficient is -Inf)
    empty <- FALSE
    for (f in factors) {
      ev <- tapply(data[[d]], data[[f]], sum)
      bad <- names(ev)[ev == 0]
      if (length(bad)) {
        data <- data[!(data[[f]] %in% bad), ]
        empty <- TRUE
      }
    }
    if (!empty) break
  }
  for (f in factors) {
    tr <- tapply(rep(1, nrow(data)), data[[f]], sum)
    ref <- names(tr)[which.max(tr)]  # every level left has an event
    data[[f]] <- relevel(factor(data[[f]]), ref = ref)
  }
  form <- as.formula(paste(d, "~ week_block + jobcentre + month + D_early + D_late"))
  fit <- glm(form, family = binomial("cloglog"), data = data,
             control = glm.control(epsilon = 1e-13, maxit = 100))
  vc <- vcovCL(fit, cluster = ~jobcentre, type = "HC0", cadjust = TRUE)
  fits[[d]] <- list(fit = fit, data = data)
  out$models[[d]] <- list(
    term = names(coef(fit)),
    coef = unname(coef(fit)),
    se_cluster = unname(sqrt(diag(vc))),
    n_obs = nrow(data),
    dropped = nrow(pw) - nrow(data)
  )
}

# suest: V_ab = c * A_a^{-1} (sum_g s_ag s_bg') A_b^{-1} on the terms D_early, D_late, with
# s_ag the cluster sums of model a's score rows; rows dropped for one model have zero score.
terms <- c("D_early", "D_late")
for (a in dest) {
  for (b in dest) {
    fa <- fits[[a]]; fb <- fits[[b]]
    sa <- rowsum(estfun(fa$fit), fa$data$jobcentre)
    sb <- rowsum(estfun(fb$fit), fb$data$jobcentre)
    g <- union(rownames(sa), rownames(sb))
    Sa <- matrix(0, length(g), ncol(sa), dimnames = list(g, colnames(sa)))
    Sb <- matrix(0, length(g), ncol(sb), dimnames = list(g, colnames(sb)))
    Sa[rownames(sa), ] <- sa
    Sb[rownames(sb), ] <- sb
    Ba <- vcov(fa$fit) / summary(fa$fit)$dispersion  # inverse Fisher information
    Bb <- vcov(fb$fit) / summary(fb$fit)$dispersion
    V <- G / (G - 1) * Ba %*% t(Sa) %*% Sb %*% Bb
    out$cross[[paste(a, b, sep = ":")]] <- unname(V[terms, terms])
  }
}
write_json(out, file.path(here, "r_output.json"), digits = NA, pretty = TRUE)
cat("wrote", file.path(here, "r_output.json"), "\n")
