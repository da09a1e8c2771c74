// hog.h: dlib's HOG frontal face detector on a raw 8-bit gray buffer, and the BLAS thread
// setting, for vision/hog.go.
#ifndef DOORFACE_HOG_H
#define DOORFACE_HOG_H
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hog_detector hog_detector;

// hog_new returns a detector (dlib's get_frontal_face_detector()), or NULL on failure.
hog_detector* hog_new(void);
// hog_free frees a detector made by hog_new.
void hog_free(hog_detector* d);
// hog_detect runs the detector on a rows x cols gray image whose rows are step bytes apart. It
// writes up to max boxes (left, top, right, bottom; inclusive, as dlib gives them) to rects and
// their scores to scores, and returns the number of faces found (which may exceed max), or -1
// when dlib threw.
int hog_detect(hog_detector* d, const unsigned char* gray, int rows, int cols, int step,
               long* rects, double* scores, int max);
// blas_set_threads sets OpenBLAS's thread count when the process runs on OpenBLAS and returns
// 1, or returns 0 when the BLAS in use has no such setting.
int blas_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
